"""A TFMA metric: precision and recall of every class, found from the confusion matrix.

TFMA's own Precision/Recall need the class ids in the EvalConfig (BinarizationOptions),
which a pipeline compiled before it sees the data cannot know. This metric derives both
from the multi-class confusion matrix instead, so it reports whatever classes exist.
"""

from tensorflow_model_analysis.metrics import (
    metric_types,
    metric_util,
    multi_class_confusion_matrix_metrics,
)

PRECISION = "precision"
RECALL = "recall"
_MATRICES = "_per_class_confusion_matrices"


def precision_and_recall(
    matrix: dict[tuple[int, int], float],
) -> dict[int, tuple[float, float]]:
    """{class id: (precision, recall)} from {(actual, predicted): weighted count}."""
    predicted_as: dict[int, float] = {}
    actually: dict[int, float] = {}
    for (actual, predicted), count in matrix.items():
        actually[actual] = actually.get(actual, 0.0) + count
        predicted_as[predicted] = predicted_as.get(predicted, 0.0) + count
    classes = sorted(c for c in set(actually) | set(predicted_as) if c >= 0)
    result = {}
    for class_id in classes:
        hits = matrix.get((class_id, class_id), 0.0)
        predicted = predicted_as.get(class_id, 0.0)
        actual = actually.get(class_id, 0.0)
        # A class never predicted has no wrong predictions either: precision 1 by convention
        # would hide it, so report 0 (as tf.keras does when there is nothing to divide).
        result[class_id] = (
            hits / predicted if predicted else 0.0,
            hits / actual if actual else 0.0,
        )
    return result


def _computations(
    name: str = "per_class",
    eval_config=None,
    model_name: str = "",
    output_name: str = "",
    example_weighted: bool = False,
) -> metric_types.MetricComputations:
    computations = multi_class_confusion_matrix_metrics.multi_class_confusion_matrices(
        thresholds=[0.0],  # every example counts as predicted with its top class
        name=_MATRICES,
        eval_config=eval_config,
        model_name=model_name,
        output_name=output_name,
        example_weighted=example_weighted,
    )
    matrices_key = computations[-1].keys[-1]

    def key(metric: str, class_id: int) -> metric_types.MetricKey:
        return metric_types.MetricKey(
            name=metric,
            model_name=model_name,
            output_name=output_name,
            sub_key=metric_types.SubKey(class_id=class_id),
            example_weighted=example_weighted,
        )

    def result(metrics: dict) -> dict:
        matrix = metrics[matrices_key][0.0]
        counts = {(k.actual_class_id, k.predicted_class_id): v for k, v in matrix.items()}
        values = {}
        for class_id, (precision, recall) in precision_and_recall(counts).items():
            values[key(PRECISION, class_id)] = precision
            values[key(RECALL, class_id)] = recall
        return values

    computations.append(
        metric_types.DerivedMetricComputation(
            keys=[metric_types.MetricKey(name=name, model_name=model_name)], result=result
        )
    )
    return computations


class PerClassPrecisionRecall(metric_types.Metric):
    """`precision` and `recall` with a class_id sub-key for each class in the data."""

    def __init__(self, name: str = "per_class"):
        super().__init__(metric_util.merge_per_key_computations(_computations), name=name)
