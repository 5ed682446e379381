"""What a run report shows, gathered from one run's steps and artifacts."""

import dataclasses
import json
import os
import re

import numpy as np
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from signpipe.components.artifacts import DataReport
from signpipe.components.evaluation import blessing_failures, evaluation_metrics
from signpipe.components.html_parts import thumbnail
from signpipe.components.tflite_exporter import variants_page
from signpipe.inference.explain import ExplainedModel
from signpipe.models.model import HISTORY_FILE
from signpipe.runs.eval_predictions import predict_split
from signpipe.runs.fold_results import fold_results
from signpipe.runs.history import RunRecord
from signpipe.runs.report import charts, explanations
from signpipe.runs.store import tfx_artifact

CONFUSED_PAIRS = 6
EXAMPLES_PER_PAIR = 4
_BODY = re.compile(r"<body>(.*)</body>", re.S)


@dataclasses.dataclass
class ReportContents:
    """Every section's content; a section is None when its step did not run."""

    run: RunRecord
    data_html: str | None = None
    training: dict | None = None
    evaluation: dict | None = None
    tflite_table: str | None = None
    cross_validation: dict | None = None  # CrossValidationResults.as_dict() of a fold run
    outcome: dict = dataclasses.field(default_factory=dict)


def gather(run: RunRecord, previous_blessed: RunRecord | None) -> ReportContents:
    """Read each section's facts from the run's artifacts."""
    contents = ReportContents(run=run, outcome=_outcome(run))
    report = run.output("DataValidationReport", "report")
    if report and os.path.exists(os.path.join(report.uri, DataReport.PAGE_FILE)):
        with open(os.path.join(report.uri, DataReport.PAGE_FILE), encoding="utf-8") as page:
            body = _BODY.search(page.read())
        contents.data_html = body[1] if body else None
    model = run.output("Trainer", "model")
    if model:
        contents.training = _training(model.uri)
    if run.output("Evaluator", "evaluation"):
        contents.evaluation = _evaluation(run, previous_blessed)
    folds = fold_results(run)
    if folds:
        contents.cross_validation = folds.as_dict()
    tflite = run.tflite_report()
    if tflite:
        contents.tflite_table = variants_page.table(tflite)
    return contents


def _training(model_uri: str) -> dict | None:
    path = os.path.join(path_utils.serving_model_path(model_uri), HISTORY_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        history = json.load(handle)
    last = {}
    for phase in charts.PHASES:
        values = history.get(phase) or {}
        if values.get("loss"):
            last[phase] = {key: series[-1] for key, series in values.items()}
            last[phase]["epochs"] = len(values["loss"])
    return {
        "curves": charts.learning_curves(history),
        "last": last,
        "unfrozen_layers": history.get("finetune_unfrozen_layers"),
        "options": history.get("options", {}),
    }


def _evaluation(run: RunRecord, previous: RunRecord | None) -> dict:
    classes = run.class_labels()
    accuracy, per_class = evaluation_metrics(run.output("Evaluator", "evaluation").uri)
    result = {
        "eval_accuracy": accuracy,
        "test_accuracy": run.accuracy("TestEvaluator"),
        "per_class": sorted(
            (
                {"label": classes[i] if i < len(classes) else str(i), "precision": p, "recall": r}
                for i, (p, r) in per_class.items()
            ),
            key=lambda row: row["label"],
        ),
        "previous": None,
        "confusion": None,
        "pairs": [],
        "errors": None,
        "population": None,
    }
    if previous is not None:
        result["previous"] = {
            "run_id": previous.run_id,
            "eval_accuracy": previous.accuracy("Evaluator"),
            "test_accuracy": previous.accuracy("TestEvaluator"),
        }
    model, examples = (
        run.output("Trainer", "model"),
        run.output("ImageFolderExampleGen", "examples"),
    )
    if classes and model and examples:
        examples = tfx_artifact(examples, standard_artifacts.Examples)
        # One load of the trained SavedModel's Keras classifier serves every section.
        explained = ExplainedModel(path_utils.serving_model_path(model.uri))
        predictions = predict_split(explained, examples, "eval", classes)
        counts = predictions.confusion()
        order = np.argsort(classes)  # alphabetical rows and columns, not vocabulary order
        result["confusion"] = charts.confusion_heatmap(
            counts[np.ix_(order, order)], [classes[i] for i in order]
        )
        result["pairs"] = _confused_pairs(predictions, counts)
        result["errors"] = explanations.error_analysis(explained, predictions)
        result["population"] = explanations.population_view(explained, predictions, examples)
    return result


def _confused_pairs(predictions, counts: np.ndarray) -> list[dict]:
    """The most frequent (true, predicted) mistakes, each with example images and paths."""
    mistakes = counts.copy()
    np.fill_diagonal(mistakes, 0)
    order = np.argsort(mistakes, axis=None)[::-1][:CONFUSED_PAIRS]
    pairs, chosen_by_pair = [], []
    for true_class, predicted_class in zip(*np.unravel_index(order, mistakes.shape), strict=True):
        if not mistakes[true_class, predicted_class]:
            break
        chosen_by_pair.append(
            np.flatnonzero(
                (predictions.labels == true_class) & (predictions.predicted == predicted_class)
            )[:EXAMPLES_PER_PAIR]
        )
    images = predictions.images(np.concatenate(chosen_by_pair)) if chosen_by_pair else {}
    for chosen in chosen_by_pair:
        true_class, predicted_class = (
            predictions.labels[chosen[0]],
            predictions.predicted[chosen[0]],
        )
        pairs.append(
            {
                "true": predictions.classes[true_class],
                "predicted": predictions.classes[predicted_class],
                "count": int(mistakes[true_class, predicted_class]),
                "of": int(counts[true_class].sum()),
                "examples": [
                    {
                        "uri": thumbnail(images[i][0], 112),
                        "path": predictions.paths[i],
                        "confidence": float(predictions.probabilities[i, predicted_class]),
                    }
                    for i in chosen
                ],
            }
        )
    return pairs


def _outcome(run: RunRecord) -> dict:
    """Blessed or not and why, where it was pushed, the failed step, every artifact's place."""
    evaluation = run.output("Evaluator", "evaluation")
    failed = [step.component for step in run.steps if step.state == "FAILED"]
    pusher = run.step("Pusher")
    return {
        "blessed": run.blessed,
        "why_not": blessing_failures(evaluation.uri) if evaluation and run.blessed is False else [],
        "pushed": run.pushed,
        "push_cached": pusher is not None and pusher.state == "CACHED",
        "failed": failed,
        "artifacts": [
            (step.component, key, artifact.uri)
            for step in run.steps
            for key, artifacts in step.outputs.items()
            for artifact in artifacts
        ],
        "properties": [(step.component, step.properties) for step in run.steps if step.properties],
    }
