"""Executor: make every TFLite variant, measure it against the SavedModel, gate and push."""

import json
import logging
import os
from typing import Any

import numpy as np
import tensorflow_transform as tft
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.types.artifact import Artifact
from tfx.utils import path_utils

from signpipe.components import model_directory
from signpipe.components.artifacts import TFLiteModels
from signpipe.components.tflite_exporter import (
    converters,
    input_docs,
    measure,
    qat,
    variants_page,
)
from signpipe.components.tflite_exporter.split_data import (
    SplitStream,
    load_split,
    split_dataset,
    split_stream,
)
from signpipe.errors import DataRootError
from signpipe.models import features
from signpipe.models.model import load_classifier
from signpipe.models.preprocessing import class_labels
from signpipe.pipeline import progress_log
from signpipe.pipeline.configs import known_variants

VARIANTS_KEY = "variants"
REPRESENTATIVE_IMAGES_KEY = "representative_images"
QAT_EPOCHS_KEY = "qat_epochs"
QAT_IMAGES_KEY = "qat_images"
QAT_LEARNING_RATE_KEY = "qat_learning_rate"
BATCH_SIZE_KEY = "batch_size"
MAX_DROP_KEY = "max_drop_from_saved_model"
LATENCY_RUNS_KEY = "latency_runs"
PUSH_ROOT_KEY = "push_root"

_log = logging.getLogger(__name__)


def _reference_pass(
    classifier, test: SplitStream
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The SavedModel's top-1 classes, the labels and the first example of the test split, in
    one pass over it. The inputs went through the transform graph already, so the
    classifier's answers are the SavedModel's serving answers."""
    classes, labels, first = [], [], {}
    progress = progress_log.Progress("TFLiteExporter", "test images", None)
    for inputs, batch_labels in test.batches():
        first = first or {name: values[0] for name, values in inputs.items()}
        classes.append(classifier.predict_on_batch(inputs).argmax(axis=1))
        labels.append(batch_labels)
        progress.advance(len(batch_labels), prefix="SavedModel on ")
    if not labels:
        raise DataRootError(f"the split in {os.path.dirname(test.files[0])} holds no examples")
    return np.concatenate(classes), np.concatenate(labels).astype(np.int64), first


def _hands_found(inputs: dict[str, np.ndarray]) -> int | None:
    """How many examples had a hand found; None when the model takes no hand_found."""
    found = inputs.get(features.HAND_FOUND_FEATURE)
    return None if found is None else int(np.sum(found > 0.5))


class Executor(base_executor.BaseExecutor):
    """Convert, measure on the test split, bless within the accuracy bound, push the blessed."""

    def Do(
        self,
        input_dict: dict[str, list[Artifact]],
        output_dict: dict[str, list[Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Write every variant, labels.txt and the report; push blessed variants if pushed."""
        model = artifact_utils.get_single_instance(input_dict["model"])
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        graph = artifact_utils.get_single_instance(input_dict["transform_graph"])
        output = artifact_utils.get_single_instance(output_dict["tflite_models"])
        fileio.makedirs(output.uri)  # orchestrators other than TFX's make none
        text = exec_properties[VARIANTS_KEY]
        variants = known_variants(text.split(","), f"tflite_variants '{text}'")
        tft_output = tft.TFTransformOutput(graph.uri)
        labels = class_labels(tft_output)
        serving_dir = path_utils.serving_model_path(model.uri)

        splits = json.loads(examples.split_names)
        split = "test" if "test" in splits else "eval"
        classifier = load_classifier(serving_dir)
        names = list(classifier.input_names)
        test = split_stream(examples, split, graph.uri, names)
        calibration, calibration_labels = load_split(
            examples, "train", tft_output, names, exec_properties[REPRESENTATIVE_IMAGES_KEY]
        )
        (reference, truth, first), converted = self._convert_all(
            variants, classifier, test, calibration, examples, tft_output, exec_properties
        )
        # Without hand analysis at ingestion the model saw whole frames, never a hand crop.
        hand_crop = features.HAND_FOUND_KEY in tft_output.raw_feature_spec()
        report = {
            "split": split,
            "images": len(truth),
            "saved_model_accuracy": float(np.mean(reference == truth)),
            "max_drop_from_saved_model": exec_properties[MAX_DROP_KEY],
            "representative_images": len(calibration_labels),
            "representative_hands_found": _hands_found(calibration),
            "hand_crop": hand_crop,
            "inputs": input_docs.describe(classifier, hand_crop),
            "variants": {},
        }
        # Every conversion has finished, so the latency runs have the machine to themselves.
        for number, variant in enumerate(variants, start=1):
            result = converted[variant]
            if isinstance(result, converters.ConversionError):
                _log.warning("TFLite variant failed: %s", result)
                progress_log.report(
                    "TFLiteExporter", f"{variant}: failed ({result})", milestone=True
                )
                report["variants"][variant] = {
                    "status": "failed",
                    "blessed": False,
                    "why": str(result),
                }
                continue
            path = os.path.join(output.uri, f"{variant}.tflite")
            with fileio.open(path, "wb") as handle:
                handle.write(result.content)
            predicted = result.classes
            if predicted is None:
                predicted = converters.classify(path, test)
            measured = measure.measure(
                path, first, truth, reference, exec_properties[LATENCY_RUNS_KEY], predicted
            )
            report["variants"][variant] = measure.judge(
                measured,
                report["saved_model_accuracy"],
                exec_properties[MAX_DROP_KEY],
                float_ops=len(converters.float_ops(result.content)),
            )
            verdict = "blessed" if report["variants"][variant]["blessed"] else "not blessed"
            progress_log.report(
                "TFLiteExporter",
                f"{variant} ({number}/{len(variants)}): top-1 {measured['accuracy']:.1%}, "
                f"{measured['size_bytes'] / 1024:,.0f} KB, {verdict}",
                milestone=True,
            )
        with fileio.open(os.path.join(output.uri, TFLiteModels.LABELS_FILE), "w") as handle:
            handle.write("".join(f"{label}\n" for label in labels))
        report["pushed_to"] = self._push(input_dict, output.uri, report, exec_properties)
        self._write_report(output, report)

    @staticmethod
    def _convert_all(
        variants: list[str],
        classifier,
        test: SplitStream,
        calibration: dict[str, np.ndarray],
        examples: Artifact,
        tft_output: tft.TFTransformOutput,
        exec_properties: dict[str, Any],
    ) -> tuple[tuple, dict[str, converters.Converted | converters.ConversionError]]:
        """The `_reference_pass` over the test split, and each variant's Converted or the
        ConversionError that stopped it.

        With QAT, the post-training variants convert and classify the test split in a
        second process, since each conversion and TFLite pass runs on one core.
        """
        post_training = [variant for variant in variants if variant != "qat_int8"]
        aware = "qat_int8" in variants
        converted: dict[str, converters.Converted | converters.ConversionError] = {}
        with (
            converters.saved_signature(classifier) as float_model,
            converters.PostTrainingConversions(
                float_model, post_training, calibration, second_process=aware, test=test
            ) as conversions,
        ):
            if post_training:
                beside = " in a second process, beside QAT" if aware else ""
                progress_log.report(
                    "TFLiteExporter", f"converting {', '.join(post_training)}{beside}"
                )
            reference = _reference_pass(classifier, test)
            if aware:
                progress_log.report("TFLiteExporter", "qat_int8: quantization-aware fine-tune")
                try:
                    converted["qat_int8"] = converters.Converted(
                        Executor._quantization_aware(
                            classifier, examples, tft_output, calibration, exec_properties
                        )
                    )
                except converters.ConversionError as err:
                    converted["qat_int8"] = err
            for variant in post_training:
                try:
                    converted[variant] = conversions.result(variant)
                except converters.ConversionError as err:
                    converted[variant] = err
        return reference, converted

    @staticmethod
    def _quantization_aware(
        classifier,
        examples: Artifact,
        tft_output: tft.TFTransformOutput,
        calibration: dict[str, np.ndarray],
        exec_properties: dict[str, Any],
    ) -> bytes:
        """The qat_int8 flatbuffer: a quantization-aware fine-tune, then full-integer."""
        converters.check_representative("qat_int8", calibration)  # before the fine-tune
        aware = qat.quantization_aware_fine_tune(
            classifier,
            split_dataset(
                examples,
                "train",
                tft_output,
                list(classifier.input_names),
                exec_properties[BATCH_SIZE_KEY],
                sample=exec_properties[QAT_IMAGES_KEY],
            ),
            calibration,
            epochs=exec_properties[QAT_EPOCHS_KEY],
            learning_rate=exec_properties[QAT_LEARNING_RATE_KEY],
        )
        with converters.saved_signature(aware) as aware_model:
            return converters.convert(aware_model, "qat_int8", calibration)

    @staticmethod
    def _push(input_dict, folder: str, report: dict, exec_properties: dict) -> str | None:
        """Copy blessed variants to <push_root>/tflite/<version>/ when the SavedModel was pushed."""
        pushed = input_dict.get("pushed_model") or []
        if not pushed or pushed[0].get_int_custom_property("pushed") != 1:
            report["not_pushed_because"] = "the SavedModel was not blessed, so nothing is pushed"
            return None
        blessed = [name for name, result in report["variants"].items() if result["blessed"]]
        if not blessed:
            report["not_pushed_because"] = "no variant stayed within the accuracy bound"
            return None
        version = pushed[0].get_string_custom_property("pushed_version")
        destination = os.path.join(
            exec_properties[PUSH_ROOT_KEY], model_directory.TFLITE_FOLDER, version
        )
        report["pushed_to"] = destination

        def fill(staging: str) -> None:
            for name in [*(f"{variant}.tflite" for variant in blessed), TFLiteModels.LABELS_FILE]:
                fileio.copy(os.path.join(folder, name), os.path.join(staging, name))
            with fileio.open(os.path.join(staging, TFLiteModels.REPORT_JSON), "w") as handle:
                json.dump(report, handle, indent=2)

        if fileio.exists(destination):  # a retried execution: replace what it left
            fileio.rmtree(destination)
        model_directory.publish(destination, fill)
        return destination

    @staticmethod
    def _write_report(output: Artifact, report: dict) -> None:
        with fileio.open(os.path.join(output.uri, TFLiteModels.REPORT_JSON), "w") as handle:
            json.dump(report, handle, indent=2)
        with fileio.open(os.path.join(output.uri, TFLiteModels.REPORT_HTML), "w") as handle:
            handle.write(variants_page.render(report))
        blessed = [name for name, result in report["variants"].items() if result["blessed"]]
        output.set_string_custom_property("blessed_variants", ",".join(blessed))
        output.set_string_custom_property("pushed_destination", report["pushed_to"] or "")
