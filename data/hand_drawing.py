"""Drawing of one hand-sign image: signer styles, the hand geometry and `render_hand`.

Each image draws a letter's hand shape with Pillow at twice the target size (then downsampled for
anti-aliasing) and varies rotation, scale, position, finger proportions, joint angles, skin colour,
background, blur and sensor noise. A signer's style (skin tone, hand proportions, sleeve, preferred
background) is shared by all of that signer's images.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from signpipe.data.hand_shapes import FINGER_STATES, FINGERS, LSE_HANDSHAPES, SPREADS, check_letter

__all__ = ["SignerStyle", "check_seed", "make_signer_style", "render_hand"]

# Hand geometry in "palm units" (palm width ~1); y points to the fingers, x to the little finger.
_KNUCKLES = ((-0.35, 0.50), (-0.11, 0.56), (0.13, 0.53), (0.34, 0.44))
_FINGER_LENGTHS = (0.92, 1.02, 0.95, 0.74)
_FINGER_WIDTHS = (0.215, 0.225, 0.21, 0.185)
_SEGMENT_FRACTIONS = (0.46, 0.30, 0.24)
_SEGMENT_TAPER = (1.0, 0.93, 0.85)
_THUMB_BASE = (-0.40, -0.28)
_THUMB_LENGTHS = (0.36, 0.32, 0.28)
_THUMB_WIDTH = 0.25
# In-plane angles (degrees from the finger direction, negative = away from the little finger) of
# the three thumb segments for the modes that do not aim at a fingertip.
_THUMB_ANGLES: dict[str, tuple[float, float, float]] = {
    "side": (-12.0, 2.0, 8.0),
    "across": (-10.0, 65.0, 95.0),
    "over": (-4.0, 62.0, 92.0),
    "under": (-8.0, 60.0, 85.0),
    "out": (-52.0, -72.0, -80.0),
    "up": (-34.0, -24.0, -12.0),
    "between": (0.0, 30.0, 20.0),
}
_THUMB_LAYER_UNDER = frozenset({"under", "across"})
_VIEW_YAW = 0.30  # how much flexion towards the viewer shows up sideways (a 3/4 view)

# --- signers -----------------------------------------------------------------------------------

_SKIN_TONES = (
    (250, 218, 186),
    (236, 192, 150),
    (222, 170, 120),
    (196, 140, 96),
    (160, 106, 70),
    (118, 78, 52),
    (86, 58, 42),
)
_BACKGROUND_KINDS = ("flat", "gradient", "noise")


@dataclasses.dataclass(frozen=True)
class SignerStyle:
    """Per-signer look: skin tone, sleeve, hand proportions and a preferred background."""

    skin: tuple[int, int, int]
    sleeve: tuple[int, int, int]
    background: str
    background_colors: tuple[tuple[int, int, int], tuple[int, int, int]]
    finger_length: float = 1.0
    finger_width: float = 1.0
    palm_width: float = 1.0
    thumb_length: float = 1.0


def check_seed(seed: int) -> int:
    """Return `seed` if it is a non-negative integer, else raise ValueError."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def make_signer_style(seed: int, signer: int) -> SignerStyle:
    """Return the deterministic style of signer number `signer` for the given seed."""
    rng = np.random.default_rng([check_seed(seed), 1, signer])
    skin = np.array(_SKIN_TONES[int(rng.integers(len(_SKIN_TONES)))], dtype=float)
    skin = np.clip(skin * rng.uniform(0.93, 1.05) + rng.normal(0.0, 5.0, 3), 0, 255)
    sleeve = _random_colour(rng, saturation=(0.1, 0.7), value=(0.15, 0.85))
    kind = _BACKGROUND_KINDS[int(rng.integers(len(_BACKGROUND_KINDS)))]
    colours = (_random_colour(rng), _random_colour(rng))
    return SignerStyle(
        skin=_rgb(skin),
        sleeve=sleeve,
        background=kind,
        background_colors=colours,
        finger_length=float(rng.uniform(0.9, 1.1)),
        finger_width=float(rng.uniform(0.88, 1.15)),
        palm_width=float(rng.uniform(0.92, 1.08)),
        thumb_length=float(rng.uniform(0.92, 1.08)),
    )


def _random_colour(
    rng: np.random.Generator,
    saturation: tuple[float, float] = (0.03, 0.45),
    value: tuple[float, float] = (0.2, 0.95),
) -> tuple[int, int, int]:
    """Draw an RGB colour from a hue/saturation/value box."""
    h, s, v = rng.uniform(0.0, 1.0), rng.uniform(*saturation), rng.uniform(*value)
    i = int(h * 6.0) % 6
    f = h * 6.0 - math.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return _rgb(np.array([r, g, b]) * 255.0)


def _rgb(values: Iterable[float]) -> tuple[int, int, int]:
    """Clip and round three floats to an RGB tuple."""
    r, g, b = (round(min(255.0, max(0.0, float(v)))) for v in values)
    return (r, g, b)


def _luma(colour: Sequence[float]) -> float:
    """Return the Rec. 601 luma of an RGB colour."""
    return 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]


def _shade(colour: Sequence[float], factor: float) -> tuple[int, int, int]:
    """Scale an RGB colour by `factor`."""
    return _rgb(c * factor for c in colour)


# --- drawing ------------------------------------------------------------------------------------


class _Canvas:
    """An RGBA drawing surface mapping hand coordinates to pixels through a similarity transform."""

    def __init__(self, side: int, centre: tuple[float, float], scale: float, angle: float) -> None:
        """Create a transparent canvas; `angle` in degrees counter-clockwise."""
        self.image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
        self.draw = ImageDraw.Draw(self.image)
        self.cx, self.cy = centre
        self.scale = scale
        rad = math.radians(angle)
        self.cos, self.sin = math.cos(rad), math.sin(rad)

    def px(self, point: Sequence[float]) -> tuple[float, float]:
        """Map a hand-space point (y up) to pixel coordinates (y down)."""
        x, y = point
        rx = x * self.cos - y * self.sin
        ry = x * self.sin + y * self.cos
        return (self.cx + rx * self.scale, self.cy - ry * self.scale)

    def capsule(
        self, a: Sequence[float], b: Sequence[float], width: float, fill: tuple[int, ...]
    ) -> None:
        """Draw a segment with round caps of hand-space `width`."""
        pa, pb = self.px(a), self.px(b)
        w = max(1.0, width * self.scale)
        r = w / 2.0
        if math.dist(pa, pb) > 0.5:
            self.draw.line([pa, pb], fill=fill, width=round(w))
        for x, y in (pa, pb):
            self.draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)

    def polygon(self, points: Sequence[Sequence[float]], fill: tuple[int, ...]) -> None:
        """Fill a hand-space polygon."""
        self.draw.polygon([self.px(p) for p in points], fill=fill)

    def line(self, points: Sequence[Sequence[float]], width: float, fill: tuple[int, ...]) -> None:
        """Draw a thin hand-space polyline (creases)."""
        w = max(1, round(width * self.scale))
        self.draw.line([self.px(p) for p in points], fill=fill, width=w, joint="curve")


def _superellipse(
    cx: float, cy: float, a: float, b: float, n: float, taper: float, count: int = 48
) -> list[tuple[float, float]]:
    """Points of a rounded-rectangle-like superellipse whose width grows by `taper` towards +y."""
    points = []
    for k in range(count):
        t = 2.0 * math.pi * k / count
        c, s = math.cos(t), math.sin(t)
        x = a * math.copysign(abs(c) ** (2.0 / n), c)
        y = b * math.copysign(abs(s) ** (2.0 / n), s)
        points.append((cx + x * (1.0 + taper * y / b), cy + y))
    return points


def _finger_points(
    base: tuple[float, float], direction: float, length: float, flex: Sequence[float]
) -> list[tuple[float, float, float]]:
    """Return (x, y, cumulative flexion) of the knuckle and the three joint ends of a finger."""
    ux, uy = math.sin(math.radians(direction)), math.cos(math.radians(direction))
    x, y = base
    points = [(x, y, 0.0)]
    total = 0.0
    for fraction, angle in zip(_SEGMENT_FRACTIONS, flex, strict=True):
        total += angle
        rad = math.radians(total)
        seg = length * fraction
        along, towards_viewer = seg * math.cos(rad), seg * math.sin(rad)
        x += along * ux + towards_viewer * _VIEW_YAW
        y += along * uy
        points.append((x, y, total))
    return points


def _background(rng: np.random.Generator, size: int, style: SignerStyle) -> np.ndarray:
    """Return a float32 (size, size, 3) background: flat, gradient or low-frequency noise."""
    kind = style.background if rng.random() < 0.65 else _BACKGROUND_KINDS[rng.integers(3)]
    c1 = np.array(style.background_colors[0], dtype=np.float32)
    c2 = np.array(style.background_colors[1], dtype=np.float32)
    if rng.random() < 0.3:
        c1, c2 = c2, c1
    jitter = rng.normal(0.0, 10.0, 3).astype(np.float32)
    c1, c2 = c1 + jitter, c2 + jitter
    if kind == "flat":
        return np.broadcast_to(c1, (size, size, 3)).astype(np.float32)
    if kind == "gradient":
        theta = rng.uniform(0.0, 2.0 * math.pi)
        coords = np.linspace(-1.0, 1.0, size, dtype=np.float32)
        t = math.cos(theta) * coords[None, :] + math.sin(theta) * coords[:, None]
        t = ((t - t.min()) / max(float(t.max() - t.min()), 1e-6))[..., None]
        return c1 * (1.0 - t) + c2 * t
    cells = int(rng.integers(3, 9))
    small = (rng.random((cells, cells)) * 255.0).astype(np.uint8)
    t = np.asarray(
        Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32
    )
    t = (t / 255.0)[..., None]
    fine = rng.standard_normal((size, size, 1), dtype=np.float32) * 6.0
    return c1 * (1.0 - t) + c2 * t + fine


def _contrast_skin(skin: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Nudge the skin colour so that it does not melt into the background's mean luminance."""
    gap = _luma(skin) - _luma(background.reshape(-1, 3).mean(axis=0))
    if abs(gap) >= 40.0:
        return skin
    target = 40.0 if gap >= 0 else -40.0
    if _luma(skin) + (target - gap) > 245.0 or _luma(skin) + (target - gap) < 25.0:
        target = -target
    return np.clip(skin + (target - gap), 0.0, 255.0)


def render_hand(
    letter: str,
    rng: np.random.Generator,
    size: int = 160,
    signer_style: SignerStyle | None = None,
) -> Image.Image:
    """Draw one RGB image of `letter`'s hand shape with random variation taken from `rng`."""
    shape = LSE_HANDSHAPES[check_letter(letter)]
    style = signer_style if signer_style is not None else make_signer_style(0, 0)
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")

    background = _background(rng, size, style)
    skin = np.array(style.skin, dtype=float) * rng.uniform(0.92, 1.06) + rng.normal(0, 4.0, 3)
    skin = _contrast_skin(np.clip(skin, 0, 255), background)
    outline = (*_shade(skin, 0.60), 255)
    crease = (*_shade(skin, 0.78), 255)
    sleeve = _rgb(np.array(style.sleeve) + rng.normal(0.0, 8.0, 3))

    # Pose: the middle of the hand (y = 0.4 palm units) lands near the middle of the image.
    side = 2 * size
    scale = side * 0.30 * rng.uniform(0.86, 1.12)
    angle = shape.orientation + rng.uniform(-20.0, 20.0)
    rad = math.radians(angle)
    rx, ry = -0.4 * math.sin(rad), 0.4 * math.cos(rad)
    jx, jy = rng.uniform(-0.07, 0.07, 2) * side
    centre = (side / 2 + jx - rx * scale, side / 2 + jy + ry * scale)
    canvas = _Canvas(side, centre, scale, angle)
    border = 0.028  # outline thickness in palm units

    # Forearm with sleeve, then the palm.
    palm_w = 0.5 * style.palm_width * rng.uniform(0.96, 1.04)
    cuff = -1.25 * rng.uniform(0.9, 1.1)
    arm = [(-0.34, -0.45), (0.33, -0.45), (0.36, cuff), (-0.37, cuff)]
    canvas.polygon(_grow(arm, border), outline)
    canvas.polygon(arm, (*_shade(skin, 0.94), 255))
    sleeve_poly = [(-0.44, cuff), (0.43, cuff), (0.55, -4.0), (-0.56, -4.0)]
    canvas.polygon(_grow(sleeve_poly, border), (*_shade(sleeve, 0.6), 255))
    canvas.polygon(sleeve_poly, (*sleeve, 255))
    palm = _superellipse(0.0, 0.0, palm_w, 0.55, 3.2, 0.08)
    canvas.polygon(_superellipse(0.0, 0.0, palm_w + border, 0.55 + border, 3.2, 0.08), outline)
    canvas.polygon(palm, (*_rgb(skin), 255))
    canvas.line([(-0.25, 0.12), (0.05, 0.22), (0.3, 0.28)], 0.012, crease)
    canvas.line([(-0.3, -0.05), (-0.12, -0.3), (-0.05, -0.45)], 0.012, crease)

    # Fingers: positions first (the thumb may aim at a fingertip), drawn after the thumb if it is
    # tucked under them.
    length_scale = style.finger_length
    width_scale = style.finger_width
    spread = SPREADS[shape.spread]
    fingers = []
    for i, state in enumerate(shape.fingers):
        kx, ky = _KNUCKLES[i]
        base = (kx * palm_w / 0.5, ky)
        flex = [a + rng.normal(0.0, 5.0) for a in FINGER_STATES[state]]
        direction = spread[i] + rng.normal(0.0, 2.5)
        length = _FINGER_LENGTHS[i] * length_scale * rng.uniform(0.93, 1.07)
        width = _FINGER_WIDTHS[i] * width_scale * rng.uniform(0.92, 1.08)
        fingers.append((_finger_points(base, direction, length, flex), width))

    thumb = _thumb_points(shape.thumb, fingers, palm_w, style.thumb_length, rng)
    thumb_width = _THUMB_WIDTH * width_scale * rng.uniform(0.92, 1.08)
    if shape.thumb in _THUMB_LAYER_UNDER:
        _draw_finger(canvas, thumb, thumb_width, skin, outline, crease, border)
    order = [1, 0, 2, 3] if shape.spread == "crossed" else [3, 2, 1, 0]
    for i in order:
        points, width = fingers[i]
        _draw_finger(canvas, points, width, skin, outline, crease, border)
    if shape.thumb not in _THUMB_LAYER_UNDER:
        _draw_finger(canvas, thumb, thumb_width, skin, outline, crease, border)

    # Downsample (anti-aliasing), composite on the background, blur and add sensor noise.
    hand = canvas.image.resize((size, size), Image.Resampling.BOX)
    base = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8), "RGB")
    base.paste(hand, (0, 0), hand)
    blur = rng.uniform(0.0, 0.9)
    if blur > 0.25:
        base = base.filter(ImageFilter.GaussianBlur(radius=blur * size / 160.0))
    pixels = np.asarray(base, dtype=np.float32)
    sigma = rng.uniform(1.0, 7.0)
    pixels = pixels + rng.standard_normal(pixels.shape, dtype=np.float32) * sigma
    pixels = pixels * rng.uniform(0.9, 1.1) + rng.uniform(-12.0, 12.0)
    return Image.fromarray(np.clip(np.round(pixels), 0, 255).astype(np.uint8), "RGB")


def _grow(points: Sequence[tuple[float, float]], amount: float) -> list[tuple[float, float]]:
    """Push polygon vertices away from their centroid by `amount` (a cheap outline)."""
    mx = sum(p[0] for p in points) / len(points)
    my = sum(p[1] for p in points) / len(points)
    grown = []
    for x, y in points:
        dx, dy = x - mx, y - my
        norm = math.hypot(dx, dy) or 1.0
        grown.append((x + dx / norm * amount, y + dy / norm * amount))
    return grown


def _thumb_points(
    mode: str,
    fingers: Sequence[tuple[list[tuple[float, float, float]], float]],
    palm_w: float,
    length_scale: float,
    rng: np.random.Generator,
) -> list[tuple[float, float, float]]:
    """Return the four joint points (x, y, flexion) of the thumb for `mode`."""
    base = (_THUMB_BASE[0] * palm_w / 0.5, _THUMB_BASE[1] + rng.normal(0.0, 0.02))
    lengths = [seg * length_scale * rng.uniform(0.94, 1.06) for seg in _THUMB_LENGTHS]
    if mode.startswith("touch_"):
        finger = FINGERS.index(mode.removeprefix("touch_"))
        tip = fingers[finger][0][-1]
        target = (tip[0] - 0.05, tip[1] - 0.04)
        a = math.radians(-30.0 + rng.normal(0.0, 4.0))
        p1 = (base[0] + lengths[0] * math.sin(a), base[1] + lengths[0] * math.cos(a))
        mid = ((p1[0] + target[0]) / 2.0, (p1[1] + target[1]) / 2.0)
        dx, dy = target[0] - p1[0], target[1] - p1[1]
        norm = math.hypot(dx, dy) or 1.0
        bulge = 0.22 * norm
        p2 = (mid[0] - dy / norm * bulge, mid[1] + dx / norm * bulge)
        return [(*base, 0.0), (*p1, 0.0), (*p2, 0.0), (*target, 40.0)]
    points = [(*base, 0.0)]
    x, y = base
    for angle, seg in zip(_THUMB_ANGLES[mode], lengths, strict=True):
        rad = math.radians(angle + rng.normal(0.0, 4.0))
        x, y = x + seg * math.sin(rad), y + seg * math.cos(rad)
        points.append((x, y, 0.0))
    return points


def _draw_finger(
    canvas: _Canvas,
    points: Sequence[tuple[float, float, float]],
    width: float,
    skin: np.ndarray,
    outline: tuple[int, ...],
    crease: tuple[int, ...],
    border: float,
) -> None:
    """Draw a chain of tapering capsules with an outline, shading bent segments darker."""
    segments = list(itertools.pairwise(points))
    widths = [width * taper for taper in _SEGMENT_TAPER[: len(segments)]]
    for (a, b), w in zip(segments, widths, strict=True):
        canvas.capsule(a[:2], b[:2], w + 2 * border, outline)
    for k, ((a, b), w) in enumerate(zip(segments, widths, strict=True)):
        flexion = b[2]
        factor = 1.0 - 0.10 * min(1.0, abs(math.sin(math.radians(flexion))))
        if math.cos(math.radians(flexion)) < -0.2:
            factor -= 0.08  # segments pointing back down over the palm
        canvas.capsule(a[:2], b[:2], w, (*_shade(skin, factor), 255))
        if k > 0:
            # A short crease across the joint.
            dx, dy = b[0] - a[0], b[1] - a[1]
            norm = math.hypot(dx, dy)
            if norm > 0.05:
                nx, ny = -dy / norm * w * 0.3, dx / norm * w * 0.3
                canvas.line([(a[0] - nx, a[1] - ny), (a[0] + nx, a[1] + ny)], 0.01, crease)
    tip = points[-1]
    if math.cos(math.radians(tip[2])) < -0.3:
        # Fingernail of a curled finger, facing the viewer.
        r = widths[-1] * 0.28
        x, y = canvas.px(tip[:2])
        rp = r * canvas.scale
        canvas.draw.ellipse([x - rp, y - rp, x + rp, y + rp], fill=(*_shade(skin, 1.04), 255))
