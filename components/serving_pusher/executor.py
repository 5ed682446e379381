"""Executor: publish a blessed model as the next TF Serving version, with its model card."""

import datetime
import json
import os
from typing import Any

import tensorflow_transform as tft
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.types.artifact import Artifact

from signpipe.components import ingestion_report, model_directory
from signpipe.components.artifacts import baseline_origin
from signpipe.components.serving_pusher.model_card import CARD_JSON, CARD_MARKDOWN, ModelCard
from signpipe.models.model import HISTORY_FILE
from signpipe.models.preprocessing import class_labels

SERVING_ROOT_KEY = "serving_root"
MODEL_NAME_KEY = "model_name"
KEEP_VERSIONS_KEY = "keep_versions"
SERVED_VERSIONS_KEY = "served_versions"
CONFIG_BASE_PATH_KEY = "config_base_path"


class Executor(pusher_executor.Executor):
    """TFX's Pusher, with atomic numbered versions, retention, models.config and a model card.

    The blessing check and the PushedModel properties (`pushed`, `pushed_destination`,
    `pushed_version`) are the stock Pusher's, so anything reading those keeps working.
    """

    def Do(
        self,
        input_dict: dict[str, list[Artifact]],
        output_dict: dict[str, list[Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Push the model when blessed; otherwise mark the PushedModel as not pushed."""
        self._log_startup(input_dict, output_dict, exec_properties)
        pushed = artifact_utils.get_single_instance(output_dict["pushed_model"])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(pushed)
            return
        model_path = self.GetModelPath(input_dict)
        serving_root = exec_properties[SERVING_ROOT_KEY]
        push_root = os.path.join(serving_root, exec_properties[MODEL_NAME_KEY])
        version = self._already_published(push_root, input_dict)
        if version is None:
            version = model_directory.next_version(push_root)
            card = self._card(input_dict, exec_properties, model_path, version)

            def fill(staging: str) -> None:
                model_directory.copy_tree(model_path, staging)
                _write_card(staging, card)

            model_directory.publish(os.path.join(push_root, str(version)), fill)
        model_directory.prune(push_root, exec_properties[KEEP_VERSIONS_KEY])
        model_directory.write_models_config(
            serving_root,
            exec_properties[CONFIG_BASE_PATH_KEY],
            exec_properties[SERVED_VERSIONS_KEY],
        )
        model_directory.copy_tree(model_path, pushed.uri)  # the archive copy, as stock Pusher
        destination = os.path.join(push_root, str(version))
        fileio.copy(os.path.join(destination, CARD_JSON), os.path.join(pushed.uri, CARD_JSON), True)
        self._MarkPushed(pushed, pushed_destination=destination, pushed_version=str(version))

    @staticmethod
    def _already_published(push_root: str, input_dict: dict[str, list[Artifact]]) -> int | None:
        """The newest version when it holds this very model (a retried push), else None."""
        published = model_directory.versions(push_root)
        if not published:
            return None
        card_path = os.path.join(push_root, str(published[-1]), CARD_JSON)
        if not fileio.exists(card_path):
            return None
        with fileio.open(card_path) as handle:
            card = json.load(handle)
        model = artifact_utils.get_single_instance(input_dict["model"])
        return published[-1] if card.get("model_artifact") == model.uri else None

    def _card(
        self,
        input_dict: dict[str, list[Artifact]],
        exec_properties: dict[str, Any],
        model_path: str,
        version: int,
    ) -> ModelCard:
        """Gather data counts, metrics, blessing and training options for the card."""
        from signpipe.components.evaluation import evaluation_metrics

        model = artifact_utils.get_single_instance(input_dict["model"])
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        graph = artifact_utils.get_single_instance(input_dict["transform_graph"])
        labels = class_labels(tft.TFTransformOutput(graph.uri))
        ingestion = ingestion_report.read_report(examples.uri)
        metrics: dict[str, Any] = {
            "eval_accuracy": None,
            "test_accuracy": None,
            "per_class": {},  # the eval split's
            "per_class_test": {},  # with signers held out, the figures for new people
        }
        for split, key in (("eval", "evaluation"), ("test", "test_evaluation")):
            if input_dict.get(key):
                accuracy, per_class = evaluation_metrics(input_dict[key][0].uri)
                metrics[f"{split}_accuracy"] = accuracy
                metrics["per_class" if split == "eval" else "per_class_test"] = {
                    labels[class_id]: {"precision": precision, "recall": recall}
                    for class_id, (precision, recall) in per_class.items()
                    if class_id < len(labels)
                }
        blessing = artifact_utils.get_single_instance(input_dict["model_blessing"])
        history_path = os.path.join(model_path, HISTORY_FILE)
        training = {}
        if fileio.exists(history_path):
            with fileio.open(history_path) as handle:
                training = json.load(handle).get("options", {})
        return ModelCard(
            model_name=exec_properties[MODEL_NAME_KEY],
            version=version,
            pushed_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            pipeline_run_id=self._context.pipeline_run_id if self._context else None,
            model_artifact=model.uri,
            classes=labels,
            data={
                "data_root": ingestion.get("data_root"),
                "span": examples.span,
                "split_by": ingestion.get("split_by"),
                "groups": ingestion.get("groups", {}),
                "counts": {split: ingestion["counts"][split] for split in ingestion["split_names"]},
                "quarantined": ingestion["totals"]["quarantined"],
                "duplicates_dropped": ingestion["totals"]["duplicates_dropped"],
            },
            metrics=metrics,
            blessing={
                "blessed": blessing.get_int_custom_property("blessed") == 1,
                "baseline_model": blessing.get_string_custom_property("baseline_model") or None,
                "baseline_found_in": _baseline_found_in(input_dict, blessing),
            },
            training=training,
        )


def _write_card(folder: str, card: ModelCard) -> None:
    with fileio.open(os.path.join(folder, CARD_JSON), "w") as handle:
        handle.write(json.dumps(card.as_dict(), indent=2, ensure_ascii=False))
    with fileio.open(os.path.join(folder, CARD_MARKDOWN), "w") as handle:
        handle.write(card.markdown())


def _baseline_found_in(input_dict: dict[str, list[Artifact]], blessing: Artifact) -> str | None:
    """Where the Evaluator's baseline came from: the LatestBlessedModel step's source and
    location (open-source KFP), else TFX's resolver over ML Metadata; None without one."""
    if not blessing.get_string_custom_property("baseline_model"):
        return None
    for model in input_dict.get("baseline_model", []):
        origin = baseline_origin(model)
        if origin:
            return origin
    return "ml-metadata: TFX's latest-blessed-model resolver"
