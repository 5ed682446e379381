"""The run report's plots: learning curves, confusion matrix, thumbnails (PNG data URIs)."""

import numpy as np
from matplotlib.figure import Figure

from signpipe.components.html_parts import png_uri

PHASES = ("head", "finetune")


def learning_curves(history: dict) -> str:
    """Loss and accuracy per epoch, train and eval, across both phases with the switch marked."""
    fig = Figure(figsize=(11, 3.8), layout="constrained")
    loss_ax, accuracy_ax = fig.subplots(1, 2)
    offset = 0
    for phase in PHASES:
        values = history.get(phase) or {}
        epochs = len(values.get("loss", []))
        if not epochs:
            continue
        x = np.arange(offset + 1, offset + epochs + 1)
        for ax, metric in ((loss_ax, "loss"), (accuracy_ax, "accuracy")):
            ax.plot(x, values[metric], "o-", color="#3366cc", label="train" if not offset else None)
            if f"val_{metric}" in values:
                ax.plot(
                    x,
                    values[f"val_{metric}"],
                    "s--",
                    color="#ff9900",
                    label="eval" if not offset else None,
                )
        if offset:
            for ax in (loss_ax, accuracy_ax):
                ax.axvline(offset + 0.5, color="#777", linestyle=":")
                ax.text(
                    offset + 0.6,
                    0.98,
                    "fine-tune",
                    transform=ax.get_xaxis_transform(),
                    va="top",
                    color="#555",
                )
        offset += epochs
    for ax, title in ((loss_ax, "loss"), (accuracy_ax, "accuracy")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    accuracy_ax.set_ylim(0, 1)
    return png_uri(fig)


def confusion_heatmap(counts: np.ndarray, classes: list[str]) -> str:
    """Rows: true class; columns: predicted class; each row normalised to its total."""
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    side = max(5.0, 0.28 * len(classes) + 2)
    fig = Figure(figsize=(side + 1.2, side), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(len(classes))
    ax.set_xticks(ticks, classes, rotation=90 if len(classes) > 12 else 0)
    ax.set_yticks(ticks, classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(classes) <= 15:
        for (row, column), count in np.ndenumerate(counts):
            if count:
                color = "white" if share[row, column] > 0.5 else "black"
                ax.text(column, row, str(count), ha="center", va="center", color=color, fontsize=8)
    fig.colorbar(image, ax=ax, label="share of the true class", shrink=0.8)
    return png_uri(fig)


def population(
    points: np.ndarray, labels: np.ndarray, wrong: np.ndarray, is_eval: np.ndarray, classes
) -> str:
    """2-D map of images by the model's features: colour by label, mistakes crossed out."""
    fig = Figure(figsize=(10, 8), layout="constrained")
    ax = fig.subplots()
    colors = [_color(i) for i in labels]
    ax.scatter(
        *points[~is_eval].T,
        c=[c for c, e in zip(colors, is_eval, strict=True) if not e],
        s=8,
        alpha=0.35,
        linewidths=0,
        label="train",
    )
    ax.scatter(
        *points[is_eval].T,
        c=[c for c, e in zip(colors, is_eval, strict=True) if e],
        s=26,
        alpha=0.9,
        edgecolors="black",
        linewidths=0.3,
        label="eval",
    )
    ax.scatter(*points[wrong].T, marker="x", c="black", s=30, linewidths=1.2, label="misclassified")
    for class_index, name in enumerate(classes):
        members = points[labels == class_index]
        if len(members):
            x, y = np.median(members, axis=0)
            ax.text(
                x,
                y,
                name,
                fontsize=10,
                weight="bold",
                ha="center",
                va="center",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.7, "lw": 0},
            )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("images by the model's penultimate features (t-SNE); labels at class medians")
    ax.legend(loc="best")
    return png_uri(fig)


def _color(index: int) -> tuple:
    from matplotlib import colormaps

    palette = colormaps["tab20"].colors + colormaps["tab20b"].colors
    return palette[index % len(palette)] if index >= 0 else (0.5, 0.5, 0.5)
