"""Find the hand in an image with MediaPipe Hands: found, score, handedness and 21 landmarks."""

import dataclasses
import threading

import numpy as np
from PIL import Image

from signpipe.errors import EnvironmentSetupError
from signpipe.models import features

# MediaPipe's hand landmarker is trained on hands of a few hundred pixels; a large photo is
# analysed on a copy whose longer side is this, which keeps the time per image bounded.
_ANALYSIS_SIDE = 640
# MediaPipe's palm detector misses a hand that fills the frame (a close-up, a cut-out hand):
# on asl_massey it found 65% of hands as they are and 117 of 120 misses on a black border
# that doubles each side. A miss is retried once on such a copy.
_RETRY_BORDER_SCALE = 2.0


@dataclasses.dataclass(frozen=True)
class HandFacts:
    """What hand analysis records about one image."""

    found: bool
    score: float  # handedness classifier's confidence, 0 when no hand was found
    handedness: str  # features.HANDEDNESS_VALUES: left, right or none
    landmarks: tuple[float, ...]  # 21 x (x, y, z), x and y in [0, 1] of the image; zeros if none


NO_HAND = HandFacts(False, 0.0, features.NO_HAND, (0.0,) * features.LANDMARK_VALUES)


class HandAnalyzer:
    """MediaPipe Hands in static image mode, one hand, created on first use."""

    def __init__(self, min_confidence: float):
        self._min_confidence = min_confidence
        self._hands = None

    def _detector(self):
        if self._hands is None:
            try:
                import mediapipe as mp  # heavy: imported by the processes that analyse hands
            except ImportError as err:
                raise EnvironmentSetupError(
                    f"hand analysis needs mediapipe==0.10.9 ({err}); run `make bootstrap`, or "
                    "set data.hand_analysis to false to ingest without it"
                ) from err
            self._hands = mp.solutions.hands.Hands(
                static_image_mode=True,
                max_num_hands=1,
                min_detection_confidence=self._min_confidence,
            )
        return self._hands

    def analyze(self, rgb: np.ndarray) -> HandFacts:
        """Analyse one uint8 RGB image [height, width, 3]; retry a miss with a black border."""
        image = _analysis_copy(rgb)
        facts = self._hand(image, 1.0)
        if not facts.found:
            facts = self._hand(_with_border(image, _RETRY_BORDER_SCALE), _RETRY_BORDER_SCALE)
        return facts

    def _hand(self, image: np.ndarray, border_scale: float) -> HandFacts:
        """The first hand MediaPipe finds, landmarks mapped back from a bordered copy."""
        result = self._detector().process(image)
        if not result.multi_hand_landmarks:
            return NO_HAND
        points = np.array(
            [(p.x, p.y, p.z) for p in result.multi_hand_landmarks[0].landmark], dtype=np.float64
        )
        # x, y are fractions of the bordered image, centred on the original; z scales with x.
        points[:, :2] = (points[:, :2] - 0.5) * border_scale + 0.5
        points[:, 2] *= border_scale
        classification = result.multi_handedness[0].classification[0]
        values = tuple(float(v) for v in points.ravel())
        return HandFacts(True, float(classification.score), classification.label.lower(), values)

    def close(self) -> None:
        """Free MediaPipe's graph."""
        if self._hands is not None:
            self._hands.close()
            self._hands = None


class HandAnalyzerPerThread:
    """A HandAnalyzer for each thread that asks (one MediaPipe graph is not safe to share
    between threads), all closed together."""

    def __init__(self, min_confidence: float):
        self._min_confidence = min_confidence
        self._local = threading.local()
        self._analyzers: list[HandAnalyzer] = []
        self._lock = threading.Lock()

    def analyzer(self) -> HandAnalyzer:
        """The calling thread's analyzer, made on its first call."""
        analyzer = getattr(self._local, "analyzer", None)
        if analyzer is None:
            analyzer = self._local.analyzer = HandAnalyzer(self._min_confidence)
            with self._lock:
                self._analyzers.append(analyzer)
        return analyzer

    def close(self) -> None:
        """Free every thread's graph."""
        with self._lock:
            for analyzer in self._analyzers:
                analyzer.close()
            self._analyzers.clear()


def _with_border(image: np.ndarray, scale: float) -> np.ndarray:
    """The image centred on a black canvas `scale` times its height and width."""
    height, width = image.shape[:2]
    canvas = np.zeros((round(height * scale), round(width * scale), 3), dtype=np.uint8)
    top, left = (canvas.shape[0] - height) // 2, (canvas.shape[1] - width) // 2
    canvas[top : top + height, left : left + width] = image
    return canvas


def _analysis_copy(rgb: np.ndarray) -> np.ndarray:
    """The image, shrunk so that its longer side is at most _ANALYSIS_SIDE (landmarks are
    normalised, so they hold for the original)."""
    height, width = rgb.shape[:2]
    scale = _ANALYSIS_SIDE / max(height, width)
    if scale >= 1.0:
        return np.ascontiguousarray(rgb)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))
