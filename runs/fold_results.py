"""A cross-validation run's results: accuracy per held-out fold and class, mean and worst."""

import dataclasses

from signpipe.components import ingestion_report
from signpipe.components.evaluation import (
    class_name,
    describe_mistakes,
    evaluation_metrics,
    mistakes,
)
from signpipe.components.split_names import EVAL, TRAIN, fold_split
from signpipe.pipeline.configs import PipelineConfig
from signpipe.pipeline.cross_validation import EVALUATOR_PREFIX
from signpipe.runs.history import RunRecord, report_path

SHIP_ADVICE = (
    "A cross-validation run measures and pushes nothing. To ship a model, run without "
    "--folds (all groups train; --test-groups keeps people out for a final check)."
)


@dataclasses.dataclass(frozen=True)
class FoldResult:
    """One fold's model measured on the groups it never saw."""

    fold: str
    held_out: list[str]  # the groups of this fold
    images: int
    accuracy: float | None
    recall: dict[str, float]  # class label -> recall on the held-out groups
    mistakes: list[dict]  # {true, predicted, images}, most frequent first


@dataclasses.dataclass(frozen=True)
class CrossValidationResults:
    """Every fold's result, with the mean and the worst fold."""

    run_id: str
    folds: list[FoldResult]

    @property
    def measured(self) -> list[FoldResult]:
        """The folds whose evaluation finished."""
        return [fold for fold in self.folds if fold.accuracy is not None]

    @property
    def mean(self) -> float | None:
        """Mean held-out accuracy over the measured folds (each fold weighs the same)."""
        measured = self.measured
        return sum(f.accuracy for f in measured) / len(measured) if measured else None

    @property
    def worst(self) -> FoldResult | None:
        """The measured fold with the lowest held-out accuracy."""
        return min(self.measured, key=lambda fold: fold.accuracy, default=None)

    def class_recall(self) -> dict[str, list[float | None]]:
        """Recall per class label, one value per fold (None where the fold lacks the class)."""
        labels = sorted({label for fold in self.folds for label in fold.recall})
        return {label: [fold.recall.get(label) for fold in self.folds] for label in labels}

    def as_dict(self) -> dict:
        """The results as plain data, for the JSON file."""
        worst = self.worst
        return {
            "run_id": self.run_id,
            "mean_accuracy": self.mean,
            "worst_fold": worst.fold if worst else None,
            "worst_accuracy": worst.accuracy if worst else None,
            "folds": [dataclasses.asdict(fold) for fold in self.folds],
            "class_recall": self.class_recall(),
        }

    def describe(self) -> str:
        """Human-readable lines for the end of a run."""
        lines = [f"Cross-validation ({len(self.folds)} folds, accuracy on held-out groups):"]
        for fold in self.folds:
            accuracy = "not measured" if fold.accuracy is None else f"{fold.accuracy:.1%}"
            lines.append(
                f"  {fold.fold:<7} held out {', '.join(fold.held_out)}: {accuracy} "
                f"of {fold.images} images"
            )
            if fold.mistakes:
                lines.append(f"    most confused: {describe_mistakes(fold.mistakes, 3)}")
        if self.mean is not None:
            lines.append(
                f"  mean {self.mean:.1%}, worst {self.worst.accuracy:.1%} ({self.worst.fold})"
            )
        lines.append(f"  {SHIP_ADVICE}")
        return "\n".join(lines)


def is_cross_validation(run: RunRecord) -> bool:
    """Whether the run has per-fold evaluators."""
    return any(step.component.startswith(EVALUATOR_PREFIX) for step in run.steps)


def fold_results(run: RunRecord) -> CrossValidationResults | None:
    """Read every fold's evaluation of a run; None for a run without folds."""
    examples = run.output("ImageFolderExampleGen", "examples")
    if examples is None or not is_cross_validation(run):
        return None
    report = ingestion_report.read_report(examples.uri)
    labels = run.class_labels()
    folds = []
    for fold, groups in report["groups"].items():
        evaluation = run.output(f"{EVALUATOR_PREFIX}{fold}", "evaluation")
        accuracy, per_class = evaluation_metrics(evaluation.uri) if evaluation else (None, {})
        images = sum(
            sum(report["counts"].get(fold_split(fold, part), {}).values()) for part in (TRAIN, EVAL)
        )
        folds.append(
            FoldResult(
                fold=fold,
                held_out=groups,
                images=images,
                accuracy=accuracy,
                recall=dict(
                    sorted(
                        (class_name(labels, class_id), recall)
                        for class_id, (_, recall) in per_class.items()
                    )
                ),
                mistakes=mistakes(evaluation.uri, labels) if evaluation else [],
            )
        )
    return CrossValidationResults(run_id=run.run_id, folds=folds)


def json_path(config: PipelineConfig, run_id: str) -> str:
    """Where a run's cross-validation JSON goes: beside its HTML report."""
    return report_path(config, run_id).removesuffix(".html") + "-cross-validation.json"
