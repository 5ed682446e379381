"""The TFMA evaluation: its config (accuracy, per-class precision/recall, label slices) and
reading its results back."""

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.writers import eval_config_writer

from signpipe.components.class_metrics import PRECISION, RECALL, PerClassPrecisionRecall
from signpipe.models import features
from signpipe.pipeline.configs import EvaluationConfig

ACCURACY = "sparse_categorical_accuracy"
ACCURACY_CLASS = "SparseCategoricalAccuracy"


def eval_config(evaluation: EvaluationConfig | None) -> tfma.EvalConfig:
    """Metrics for one split; with `evaluation`, the thresholds that bless a model."""
    accuracy = tfma.MetricConfig(class_name=ACCURACY_CLASS)
    if evaluation is not None:
        # Only the overall slice gates: one weak class must not veto a better model here;
        # per-class results are reported, not thresholded.
        accuracy.per_slice_thresholds.add(slicing_specs=[tfma.SlicingSpec()]).threshold.CopyFrom(
            tfma.MetricThreshold(
                value_threshold=tfma.GenericValueThreshold(
                    lower_bound={"value": evaluation.accuracy_floor}
                ),
                # Skipped by TFMA when there is no baseline yet (the first run).
                change_threshold=tfma.GenericChangeThreshold(
                    direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                    absolute={"value": -evaluation.max_accuracy_drop},
                ),
            )
        )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                # Named, so TFMA loads the SavedModel's signatures only: left empty, it loads
                # the whole Keras model once to find out, and again to evaluate it.
                model_type=tfma.TF_GENERIC,
                signature_name=features.EXAMPLES_SIGNATURE,
                preprocessing_function_names=[features.TRANSFORM_SIGNATURE],
                label_key=features.LABEL_FEATURE,
                prediction_key="probabilities",
            )
        ],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    accuracy,
                    tfma.MetricConfig(
                        class_name=PerClassPrecisionRecall.__name__,
                        module=PerClassPrecisionRecall.__module__,
                    ),
                    tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
                ]
            )
        ],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[features.LABEL_KEY])],
    )


def with_accuracy_floor(config: tfma.EvalConfig, floor: float) -> tfma.EvalConfig:
    """A copy of `config` whose accuracy threshold has `floor` as its lower bound."""
    updated = tfma.EvalConfig()
    updated.CopyFrom(config)
    thresholds = [
        slice_threshold.threshold.value_threshold
        for spec in updated.metrics_specs
        for metric in spec.metrics
        if metric.class_name == ACCURACY_CLASS
        for slice_threshold in metric.per_slice_thresholds
    ]
    if not thresholds:
        raise ValueError("the eval_config has no accuracy threshold to set a floor on")
    for threshold in thresholds:
        threshold.lower_bound.value = floor
    return updated


def evaluation_metrics(uri: str) -> tuple[float | None, dict[int, tuple[float, float]]]:
    """Overall accuracy of a TFMA evaluation and {class id: (precision, recall)}."""
    accuracy, per_class = None, {}
    for slice_key, metrics in tfma.load_eval_result(uri).slicing_metrics:
        if slice_key:
            continue
        by_sub_key = metrics.get("", {})
        accuracy = by_sub_key.get("", {}).get(ACCURACY, {}).get("doubleValue")
        for sub_key, values in by_sub_key.items():
            if sub_key.startswith("classId:") and PRECISION in values:
                per_class[int(sub_key.partition(":")[2])] = (
                    values[PRECISION]["doubleValue"],
                    values[RECALL]["doubleValue"],
                )
    return accuracy, per_class


def class_name(labels: list[str], class_id: int) -> str:
    """The label of a class index, or the index itself where the vocabulary lacks it."""
    return labels[class_id] if 0 <= class_id < len(labels) else str(class_id)


def mistakes(uri: str, labels: list[str]) -> list[dict]:
    """Every (true class, predicted class) confusion of a TFMA evaluation's overall slice,
    with its image count, most frequent first."""
    counted = []
    for slice_key, plots in tfma.load_eval_result(uri, model_name=_candidate(uri)).plots:
        if slice_key:
            continue
        matrices = plots.get("", {}).get("", {}).get("multiClassConfusionMatrixAtThresholds", {})
        for entry in (matrices.get("matrices") or [{}])[0].get("entries", []):
            # Proto JSON leaves out zero values, class 0 among them.
            actual, predicted = entry.get("actualClassId", 0), entry.get("predictedClassId", 0)
            if actual != predicted and predicted >= 0:
                counted.append(
                    {
                        "true": class_name(labels, actual),
                        "predicted": class_name(labels, predicted),
                        "images": round(entry.get("numWeightedExamples", 0)),
                    }
                )
    return sorted(counted, key=lambda m: (-m["images"], m["true"], m["predicted"]))


def _candidate(uri: str) -> str | None:
    """The evaluated model's name beside a baseline (TFMA files plots under it); else None."""
    specs = eval_config_writer.load_eval_run(uri)[0].model_specs
    return next((s.name for s in specs if not s.is_baseline), None) if len(specs) > 1 else None


def describe_mistakes(counted: list[dict], limit: int = 5) -> str:
    """The most frequent confusions in words, e.g. `2 -> v 9, 0 -> o 9`."""
    return ", ".join(f"{m['true']} -> {m['predicted']} {m['images']}" for m in counted[:limit])


def blessing_failures(uri: str) -> list[str]:
    """The failed blessing thresholds of a TFMA evaluation, in words."""
    failures = []
    validation = tfma.load_validation_result(uri)
    for per_slice in validation.metric_validations_per_slice:
        for failure in per_slice.failures:
            threshold = failure.metric_threshold
            value = failure.metric_value.double_value.value
            if threshold.HasField("value_threshold"):
                floor = threshold.value_threshold.lower_bound.value
                failures.append(
                    f"{failure.metric_key.name} {value:.3f} is below the floor {floor:.3f}"
                    " (evaluation.accuracy_floor)"
                )
            else:
                drop = -threshold.change_threshold.absolute.value
                failures.append(
                    f"{failure.metric_key.name} changed by {value:+.3f} against the last "
                    f"blessed model; the allowed drop is {drop:.3f} (evaluation.max_accuracy_drop)"
                )
    return failures
