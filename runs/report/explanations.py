"""The report's error analysis: saliency of mistakes, doubtful labels, and a population map."""

import base64

import numpy as np
from tfx.types import standard_artifacts

from signpipe.inference.explain import ExplainedModel
from signpipe.runs.eval_predictions import SplitPredictions
from signpipe.runs.report import charts

LABEL_ERROR_CONFIDENCE = 0.8  # a wrong answer at least this sure: check the label
SHOWN_PER_GROUP = 8
TRAIN_POINTS = 1000  # training images in the population view, at most
IG_STEPS = 16


def error_analysis(explained: ExplainedModel, predictions: SplitPredictions) -> dict:
    """Label-error candidates, other mistakes and the least confident correct answers.

    Each item has its file path, label, answer and the picture `signpipe explain` draws
    (`uri`: the branches' votes, the image the model saw, the hand's joints coloured by
    their attribution, integrated gradients, Grad-CAM), its votes line and the joints that
    weighed most, computed on the model the pipeline trained, with the hands ExampleGen
    found. At most SHOWN_PER_GROUP images a group.
    """
    confidence = predictions.probabilities.max(axis=1)
    wrong = np.flatnonzero(predictions.predicted != predictions.labels)
    right = np.flatnonzero(predictions.predicted == predictions.labels)
    wrong = wrong[np.argsort(-confidence[wrong])]
    sure = wrong[confidence[wrong] >= LABEL_ERROR_CONFIDENCE]
    groups = {
        "label_errors": sure[:SHOWN_PER_GROUP],
        "misclassified": wrong[confidence[wrong] < LABEL_ERROR_CONFIDENCE][:SHOWN_PER_GROUP],
        "least_confident": right[np.argsort(confidence[right])][:SHOWN_PER_GROUP],
    }
    chosen = np.concatenate(list(groups.values())).astype(int)
    strips = _strips(explained, predictions, chosen) if len(chosen) else {}
    result = {
        name: [_item(predictions, int(i), strips[int(i)]) for i in indices]
        for name, indices in groups.items()
    }
    result["counts"] = {"wrong": len(wrong), "label_errors": len(sure), "images": len(confidence)}
    return result


def _strips(
    explained: ExplainedModel, predictions: SplitPredictions, chosen: np.ndarray
) -> dict[int, dict]:
    """Each chosen image's explanation as `signpipe explain` draws it (the branches' votes,
    the hand's joints, the image maps), with the joints that weighed most."""
    from signpipe.inference.explanation_figure import panels_png

    images = predictions.images(chosen)
    views = explained.explain(
        [images[int(i)][0] for i in chosen],
        [images[int(i)][1] for i in chosen],
        predictions.classes,
        IG_STEPS,
    )
    strips = {}
    for index, view in zip(chosen, views, strict=True):
        png = panels_png(view, inches=1.6)
        strips[int(index)] = {
            "uri": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
            "votes": view.votes.line(),
            "joints": view.top_joints(),
        }
    return strips


def _item(predictions: SplitPredictions, index: int, strip: dict) -> dict:
    label = predictions.labels[index]
    return {
        "path": predictions.paths[index],
        "label": predictions.classes[label] if label >= 0 else "?",
        "answer": predictions.classes[predictions.predicted[index]],
        "confidence": float(predictions.probabilities[index].max()),
        **strip,
    }


def population_view(
    explained: ExplainedModel, predictions: SplitPredictions, train: standard_artifacts.Examples
) -> str:
    """Eval and training images (up to eval_predictions.EMBEDDED and TRAIN_POINTS, spread
    over their splits) by the model's penultimate features (the image's pooled features,
    with the landmark embedding of a model that reads the hand), projected to 2-D."""
    from sklearn.manifold import TSNE

    from signpipe.runs.eval_predictions import embed, read_split

    train_encoded, train_hands, train_labels = read_split(
        train, "train", predictions.classes, TRAIN_POINTS
    )
    train_features, train_probabilities = embed(explained, train_encoded, train_hands)
    shown = predictions.embedded  # at most eval_predictions.EMBEDDED eval images
    features = np.concatenate([predictions.embeddings, train_features])
    labels = np.concatenate([predictions.labels[shown], train_labels])
    probabilities = np.concatenate([predictions.probabilities[shown], train_probabilities])
    wrong = probabilities.argmax(axis=1) != labels
    points = TSNE(
        n_components=2,
        perplexity=min(30.0, max(2.0, (len(features) - 1) / 3)),
        init="pca",
        random_state=0,
    ).fit_transform(features)
    is_eval = np.arange(len(points)) < len(shown)
    return charts.population(points, labels, wrong, is_eval, predictions.classes)
