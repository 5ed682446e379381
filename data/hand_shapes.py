"""The LSE hand-shape model: finger and thumb states and the configuration of each static letter.

Every letter of the static Spanish Sign Language (LSE) alphabet maps to a hand shape: a state per
finger (extended, curved, hooked, draped or curled), a spread of the fingers, a thumb position and
an orientation of the whole hand.
"""

from __future__ import annotations

import dataclasses
import unicodedata

__all__ = [
    "FINGERS",
    "FINGER_STATES",
    "LSE_HANDSHAPES",
    "LSE_STATIC_LETTERS",
    "SPREADS",
    "THUMB_MODES",
    "HandShape",
    "check_letter",
]

LSE_STATIC_LETTERS: tuple[str, ...] = (
    "A", "B", "C", "D", "E", "F", "G", "H", "I", "K", "L", "M", "N",
    "Ñ", "O", "P", "Q", "R", "S", "T", "U", "V", "W", "X", "Y",
)  # fmt: skip

# Flexion (degrees, towards the viewer) of the three joints of a finger for each state.
FINGER_STATES: dict[str, tuple[float, float, float]] = {
    "ext": (0.0, 4.0, 4.0),  # extended
    "curve": (28.0, 38.0, 30.0),  # rounded, as in C
    "round": (40.0, 58.0, 42.0),  # strongly rounded, tips meet the thumb, as in O
    "hook": (0.0, 100.0, 80.0),  # straight base, bent tip, as in X
    "drape": (55.0, 80.0, 20.0),  # bent over the thumb, as in M and N
    "curl": (88.0, 105.0, 85.0),  # closed fist
}
FINGERS = ("index", "middle", "ring", "pinky")
SPREADS: dict[str, tuple[float, float, float, float]] = {
    "together": (-3.0, -1.0, 1.5, 4.0),
    "normal": (-9.0, -2.0, 5.0, 12.0),
    "wide": (-22.0, -6.0, 10.0, 26.0),
    "crossed": (9.0, -11.0, 4.0, 8.0),  # middle finger crosses over the index, as in R
}
THUMB_MODES = (
    "side",  # along the side of the fist
    "across",  # folded across the palm, under the knuckles
    "over",  # across the front of the curled fingers
    "under",  # hidden under draped fingers
    "out",  # extended sideways, perpendicular to the index
    "up",  # extended diagonally upwards
    "between",  # tip poking out between index and middle
    "touch_index",  # tip meets the index tip
    "touch_middle",  # tip meets the middle tip
    "touch_pinky",  # tip meets the pinky tip
)


@dataclasses.dataclass(frozen=True)
class HandShape:
    """Finger configuration of one letter: finger states, spread, thumb and hand orientation."""

    fingers: tuple[str, str, str, str]  # index, middle, ring, pinky
    spread: str = "normal"
    thumb: str = "side"
    orientation: float = 0.0  # degrees, counter-clockwise; 0 = fingers up


LSE_HANDSHAPES: dict[str, HandShape] = {
    "A": HandShape(("curl", "curl", "curl", "curl"), "together", "side"),
    "B": HandShape(("ext", "ext", "ext", "ext"), "together", "across"),
    "C": HandShape(("curve", "curve", "curve", "curve"), "together", "up", -8.0),
    "D": HandShape(("ext", "round", "round", "round"), "together", "touch_middle"),
    "E": HandShape(("hook", "hook", "hook", "hook"), "together", "under"),
    "F": HandShape(("round", "ext", "ext", "ext"), "normal", "touch_index"),
    "G": HandShape(("ext", "curl", "curl", "curl"), "together", "out", 90.0),
    "H": HandShape(("ext", "ext", "curl", "curl"), "together", "over", 90.0),
    "I": HandShape(("curl", "curl", "curl", "ext"), "together", "over"),
    "K": HandShape(("ext", "ext", "curl", "curl"), "normal", "between"),
    "L": HandShape(("ext", "curl", "curl", "curl"), "together", "out"),
    "M": HandShape(("drape", "drape", "drape", "curl"), "together", "under"),
    "N": HandShape(("drape", "drape", "curl", "curl"), "together", "under"),
    "Ñ": HandShape(("drape", "drape", "curl", "curl"), "normal", "out", -35.0),
    "O": HandShape(("round", "round", "round", "round"), "together", "touch_index"),
    "P": HandShape(("ext", "ext", "curl", "curl"), "normal", "between", 165.0),
    "Q": HandShape(("ext", "curl", "curl", "curl"), "together", "out", 195.0),
    "R": HandShape(("ext", "ext", "curl", "curl"), "crossed", "over"),
    "S": HandShape(("curl", "curl", "curl", "curl"), "together", "over"),
    "T": HandShape(("curl", "curl", "curl", "curl"), "together", "between"),
    "U": HandShape(("ext", "ext", "curl", "curl"), "together", "over"),
    "V": HandShape(("ext", "ext", "curl", "curl"), "wide", "over"),
    "W": HandShape(("ext", "ext", "ext", "curl"), "wide", "touch_pinky"),
    "X": HandShape(("hook", "curl", "curl", "curl"), "together", "over"),
    "Y": HandShape(("curl", "curl", "curl", "ext"), "wide", "out"),
}


def check_letter(letter: str) -> str:
    """Return `letter` in NFC form or raise ValueError naming it and the valid letters."""
    normalised = unicodedata.normalize("NFC", letter) if isinstance(letter, str) else letter
    if normalised not in LSE_HANDSHAPES:
        raise ValueError(
            f"Unknown LSE letter {letter!r}; valid letters are: {' '.join(LSE_STATIC_LETTERS)}"
        )
    return normalised
