"""The TFMA evaluation: its config (accuracy, per-class precision/recall, label slices) and
reading its results back."""

import tensorflow_model_analysis as tfma

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
