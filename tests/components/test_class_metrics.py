"""Per-class precision and recall derived from a confusion matrix."""

import pytest

from signpipe.components.class_metrics import precision_and_recall


def test_precision_and_recall_per_class():
    # actual 0: 3 right, 1 taken for class 1; actual 1: 2 right; actual 2: never predicted.
    matrix = {(0, 0): 3.0, (0, 1): 1.0, (1, 1): 2.0, (2, 0): 2.0}
    result = precision_and_recall(matrix)
    assert result[0] == pytest.approx((3 / 5, 3 / 4))
    assert result[1] == pytest.approx((2 / 3, 1.0))
    assert result[2] == (0.0, 0.0)


def test_examples_without_a_prediction_count_against_recall_only():
    # -1 is TFMA's "no predicted class" (top score under the threshold).
    result = precision_and_recall({(0, 0): 1.0, (0, -1): 1.0})
    assert set(result) == {0}
    assert result[0] == pytest.approx((1.0, 0.5))
