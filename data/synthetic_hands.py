"""Deterministic synthetic hand-sign data sets in the "one folder per class" layout.

Each letter gets a folder of images drawn by `signpipe.data.hand_drawing.render_hand`. Images are
grouped by "signers" who each have their own style, so a split by signer behaves like one on a
real dataset. Files are written as ``<root>/<label>/signer<k>_<label>_<nnn>.<ext>``; the same spec
always gives byte-identical files. A marker file records the spec so that `ensure_dataset` can
reuse a matching data set.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import pathlib
import re
import unicodedata
from collections.abc import Sequence

import numpy as np

from signpipe.data.hand_drawing import check_seed, make_signer_style, render_hand
from signpipe.data.hand_shapes import LSE_HANDSHAPES, check_letter
from signpipe.errors import DataRootError
from signpipe.pipeline.configs import DemoDataConfig

__all__ = [
    "DEMO_LETTERS",
    "MARKER_FILENAME",
    "SyntheticDataSpec",
    "ensure_dataset",
    "generate_dataset",
]

DEMO_LETTERS: tuple[str, ...] = ("A", "B", "C", "E", "L", "Ñ")
MARKER_FILENAME = ".synthetic_spec.json"
# Bump whenever hand_shapes or hand_drawing change the images so that ensure_dataset regenerates
# stale data sets.
GENERATOR_VERSION = 1

_FORMAT_EXTENSIONS: dict[str, str] = {
    "jpeg": ".jpg",
    "jpg": ".jpg",
    "png": ".png",
    "bmp": ".bmp",
    "webp": ".webp",
}
_PIL_FORMATS: dict[str, str] = {
    "jpeg": "JPEG",
    "jpg": "JPEG",
    "png": "PNG",
    "bmp": "BMP",
    "webp": "WEBP",
}
_SAVE_OPTIONS: dict[str, dict[str, object]] = {
    "JPEG": {"quality": 92},
    "PNG": {"compress_level": 1},
    "BMP": {},
    "WEBP": {"quality": 90, "method": 4},
}

# --- the data-set spec --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SyntheticDataSpec:
    """What to generate: letters, images per letter, signers, image size, seed and file formats."""

    letters: tuple[str, ...] = DEMO_LETTERS
    images_per_class: int = DemoDataConfig.images_per_class
    signers: int = DemoDataConfig.signers
    image_size: int = DemoDataConfig.image_size  # square side in pixels
    seed: int = DemoDataConfig.seed
    formats: tuple[str, ...] = ("jpeg", "png")  # cycled over images; also "bmp", "webp"

    def __post_init__(self) -> None:
        """Validate the fields and normalise letters (NFC) and formats (lower case) to tuples."""
        letters = (self.letters,) if isinstance(self.letters, str) else tuple(self.letters)
        letters = tuple(check_letter(letter) for letter in letters)
        if not letters:
            raise ValueError("letters must not be empty")
        if len(set(letters)) != len(letters):
            raise ValueError(f"letters must not repeat: {letters}")
        formats = (self.formats,) if isinstance(self.formats, str) else tuple(self.formats)
        formats = tuple(str(fmt).lower() for fmt in formats)
        if not formats:
            raise ValueError("formats must not be empty")
        for fmt in formats:
            if fmt not in _FORMAT_EXTENSIONS:
                raise ValueError(
                    f"Unknown image format {fmt!r}; valid formats are: "
                    f"{', '.join(sorted(_FORMAT_EXTENSIONS))}"
                )
        for name in ("images_per_class", "signers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.image_size, bool) or not isinstance(self.image_size, int):
            raise ValueError(f"image_size must be an integer, got {self.image_size!r}")
        if not 32 <= self.image_size <= 1024:
            raise ValueError(f"image_size must be between 32 and 1024, got {self.image_size}")
        check_seed(self.seed)
        object.__setattr__(self, "letters", letters)
        object.__setattr__(self, "formats", formats)

    def to_json_dict(self) -> dict[str, object]:
        """Return the spec as a JSON-serialisable dict (tuples become lists)."""
        return {
            "letters": list(self.letters),
            "images_per_class": self.images_per_class,
            "signers": self.signers,
            "image_size": self.image_size,
            "seed": self.seed,
            "formats": list(self.formats),
        }


# --- writing ------------------------------------------------------------------------------------


def _image_rng(seed: int, letter: str, index: int) -> np.random.Generator:
    """Return the generator for image `index` of `letter` (independent of the other letters)."""
    return np.random.default_rng([seed, 2, ord(letter), index])


def _signer_of(index: int, spec: SyntheticDataSpec) -> int:
    """Return the 1-based signer of image `index`; signers get contiguous blocks of indices."""
    return index * spec.signers // spec.images_per_class + 1


def _file_name(label: str, signer: int, index: int, fmt: str, digits: int) -> str:
    """Return `signer<k>_<label>_<nnn>.<ext>`."""
    return f"signer{signer}_{label}_{index:0{digits}d}{_FORMAT_EXTENSIONS[fmt]}"


_GENERATED_NAME = re.compile(r"^signer\d+_(?P<label>.+)_\d+\.(?:jpg|png|bmp|webp)$")


def _is_generated(name: str, label: str) -> bool:
    """Whether `name` looks like a file this module writes into the folder of `label`."""
    match = _GENERATED_NAME.match(unicodedata.normalize("NFC", name))
    return bool(match) and match.group("label") == label


def _label_dirs(root: pathlib.Path) -> dict[str, pathlib.Path]:
    """Map NFC label -> folder for the LSE-letter folders directly under `root`."""
    found = {}
    if root.is_dir():
        for child in root.iterdir():
            label = unicodedata.normalize("NFC", child.name)
            if child.is_dir() and label in LSE_HANDSHAPES:
                found[label] = child
    return found


def _check_only_generated(root: pathlib.Path) -> None:
    """Raise DataRootError if `root` holds anything this module would not have written."""
    if not root.exists():
        return
    if not root.is_dir():
        raise DataRootError(
            f"{root} exists and is not a directory; choose an empty or new folder for the "
            "synthetic data set"
        )
    label_dirs = _label_dirs(root)
    foreign = []
    for child in root.iterdir():
        if child.name.startswith("."):
            continue
        label = unicodedata.normalize("NFC", child.name)
        if label not in label_dirs:
            foreign.append(child)
            continue
        for item in child.iterdir():
            if not item.name.startswith(".") and not (
                item.is_file() and _is_generated(item.name, label)
            ):
                foreign.append(item)
    if foreign:
        shown = ", ".join(str(p) for p in sorted(foreign)[:5])
        raise DataRootError(
            f"{root} holds files that are not synthetic hand images (e.g. {shown}); refusing to "
            "write a synthetic data set there. Choose an empty folder for the synthetic data, or "
            "pass --data-root to run on the real images in it."
        )


def _remove_generated(root: pathlib.Path) -> None:
    """Delete previously generated images (and then-empty label folders) under `root`."""
    for label, folder in _label_dirs(root).items():
        for item in folder.iterdir():
            if item.is_file() and _is_generated(item.name, label):
                item.unlink()
        with contextlib.suppress(OSError):  # still holds hidden files
            folder.rmdir()


def _marker_payload(spec: SyntheticDataSpec) -> dict[str, object]:
    """Return what the marker file records for `spec`."""
    return {"generator_version": GENERATOR_VERSION, "spec": spec.to_json_dict()}


def _read_marker(root: pathlib.Path) -> object:
    """Return the parsed marker under `root`, or None if it is missing or unreadable."""
    try:
        return json.loads((root / MARKER_FILENAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _count_images(root: pathlib.Path, letters: Sequence[str]) -> dict[str, int]:
    """Count the generated image files per label under `root`."""
    label_dirs = _label_dirs(root)
    counts = {}
    for label in letters:
        folder = label_dirs.get(label)
        counts[label] = (
            0
            if folder is None
            else sum(1 for p in folder.iterdir() if p.is_file() and _is_generated(p.name, label))
        )
    return counts


def generate_dataset(
    root: pathlib.Path | str, spec: SyntheticDataSpec = SyntheticDataSpec()
) -> dict[str, int]:
    """Write the dataset under root and return image counts per label."""
    root = pathlib.Path(root)
    _check_only_generated(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER_FILENAME).unlink(missing_ok=True)
    _remove_generated(root)

    styles = [make_signer_style(spec.seed, k) for k in range(1, spec.signers + 1)]
    digits = max(3, len(str(spec.images_per_class - 1)))
    counts: dict[str, int] = {}
    for label in spec.letters:
        folder = root / label
        folder.mkdir(exist_ok=True)
        for index in range(spec.images_per_class):
            signer = _signer_of(index, spec)
            fmt = spec.formats[index % len(spec.formats)]
            image = render_hand(
                label, _image_rng(spec.seed, label, index), spec.image_size, styles[signer - 1]
            )
            path = folder / _file_name(label, signer, index, fmt, digits)
            pil_format = _PIL_FORMATS[fmt]
            image.save(path, format=pil_format, **_SAVE_OPTIONS[pil_format])
        counts[label] = spec.images_per_class

    tmp = root / (MARKER_FILENAME + ".tmp")
    tmp.write_text(
        json.dumps(_marker_payload(spec), ensure_ascii=False, indent=2, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    tmp.replace(root / MARKER_FILENAME)
    return counts


def ensure_dataset(
    root: pathlib.Path | str, spec: SyntheticDataSpec = SyntheticDataSpec()
) -> dict[str, int]:
    """Generate the dataset unless root already holds it for the same spec; return counts."""
    root = pathlib.Path(root)
    if _read_marker(root) == _marker_payload(spec):
        counts = _count_images(root, spec.letters)
        if all(count == spec.images_per_class for count in counts.values()):
            return counts
    return generate_dataset(root, spec)
