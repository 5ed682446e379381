"""The names of the splits ExampleGen writes: train, eval, test, and the folds' parts."""

FOLD_PREFIX = "fold"
TRAIN, EVAL, TEST = "train", "eval", "test"


def fold_name(index: int) -> str:
    """The name of the fold at a 0-based index: fold1, fold2, ..."""
    return f"{FOLD_PREFIX}{index + 1}"


def fold_split(fold: str, part: str) -> str:
    """The split holding one part (train or eval) of a fold's images, e.g. fold2_eval."""
    return f"{fold}_{part}"


def fold_split_names(folds: int) -> list[str]:
    """Every split a cross-validation ExampleGen writes: each fold's train and eval part."""
    return [fold_split(fold_name(i), part) for i in range(folds) for part in (TRAIN, EVAL)]
