"""One image's explanation as a picture: the branches' votes over the image the model saw,
the hand's joints coloured by their attribution, integrated gradients and Grad-CAM."""

import dataclasses
import io

import numpy as np

from signpipe.inference.branches import Votes
from signpipe.inference.landmark_attribution import JOINT_NAMES, TOP_JOINTS, HandAttribution

PANEL_INCHES = 3.2
NO_IMAGE_BRANCH = "no image branch:\nthe model reads only\nthe hand landmarks"


@dataclasses.dataclass(frozen=True)
class ImageExplanation:
    """What the picture of one image shows."""

    image: np.ndarray  # [S, S, 3] in [0, 255]: the hand crop, or the padded frame
    votes: Votes
    ig: np.ndarray | None = None  # [S, S] in [0, 1]; None without an image branch
    cam: np.ndarray | None = None
    # The landmarks [21, 2], x and y in the image's pixels; None: no hand or landmark branch.
    hand_points: np.ndarray | None = None
    hand: HandAttribution | None = None  # None also when the model carries no mean hand

    def top_joints(self) -> str:
        """`index tip +0.214, thumb tip +0.102, ring PIP -0.041`, or "" without attributions."""
        return ", ".join(self.hand.top_joints()) if self.hand else ""


def overlay(axis, image: np.ndarray, saliency_map: np.ndarray | None, title: str) -> None:
    """Draw an image (greyed under a heat map when one is given) on a matplotlib axis."""
    axis.axis("off")
    axis.set_title(title, fontsize=9)
    if saliency_map is None:
        axis.imshow(image.astype(np.uint8))
        return
    axis.imshow(image.mean(axis=-1), cmap="gray", vmin=0, vmax=255)
    axis.imshow(saliency_map, cmap="inferno", alpha=0.6, vmin=0, vmax=1)


def draw_hand(axis, explained: ImageExplanation) -> None:
    """The image greyed, MediaPipe's bones, and each joint coloured by its attribution to
    the answer (red for it, blue against), the joints that weighed most named."""
    from mediapipe.python.solutions.hands_connections import HAND_CONNECTIONS

    axis.axis("off")
    axis.imshow(explained.image.mean(axis=-1), cmap="gray", vmin=0, vmax=255)
    x, y = explained.hand_points[:, 0], explained.hand_points[:, 1]
    for start, end in sorted(HAND_CONNECTIONS):
        axis.plot(x[[start, end]], y[[start, end]], color="white", linewidth=1, alpha=0.8)
    if explained.hand is None:
        axis.scatter(x, y, s=12, color="yellow", zorder=3)
        axis.set_title("joints (not attributed)", fontsize=9)
        return
    weights = explained.hand.joints
    peak = max(float(np.abs(weights).max()), 1e-12)
    axis.scatter(x, y, c=weights, cmap="RdBu_r", vmin=-peak, vmax=peak, s=24, zorder=3)
    for index in np.argsort(-np.abs(weights))[:TOP_JOINTS]:
        axis.annotate(
            JOINT_NAMES[index],
            (x[index], y[index]),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize=7,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.8},
        )
    axis.set_title(f"joints: red for {explained.votes.label}", fontsize=9)


def panels_png(explained: ImageExplanation, inches: float = PANEL_INCHES) -> bytes:
    """The explanation as PNG bytes: the votes above the image, the hand's joints (when a
    hand was found), integrated gradients and Grad-CAM (with an image branch)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with_maps = explained.ig is not None and explained.cam is not None
    with_hand = explained.hand_points is not None
    panels = 1 + with_hand + 2 * with_maps + (not with_maps and not with_hand)
    figure = Figure(figsize=(panels * inches, inches + 0.6), layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(explained.votes.line(), fontsize=10)
    axes = list(figure.subplots(1, panels))
    overlay(axes.pop(0), explained.image, None, "as the model sees it")
    if with_hand:
        draw_hand(axes.pop(0), explained)
    if with_maps:
        overlay(axes.pop(0), explained.image, explained.ig, "integrated gradients")
        overlay(axes.pop(0), explained.image, explained.cam, "Grad-CAM")
    for axis in axes:  # nothing else to show: say why
        axis.axis("off")
        axis.text(0.5, 0.5, NO_IMAGE_BRANCH, ha="center", va="center", fontsize=9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
