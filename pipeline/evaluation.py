"""TFMA configuration: accuracy, per-class precision/recall, confusion matrix, label slices."""

import tensorflow_model_analysis as tfma

from signpipe.models.preprocessing import LABEL_FEATURE, LABEL_KEY
from signpipe.pipeline.class_metrics import PerClassPrecisionRecall
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
                signature_name="serving_default",
                preprocessing_function_names=["transform_features"],
                label_key=LABEL_FEATURE,
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
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[LABEL_KEY])],
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
