"""Tests for the synthetic LSE hand-sign data set generator (signpipe.data.synthetic_hands)."""

from __future__ import annotations

import collections
import hashlib
import json
import os
import pathlib
import re
import unicodedata

import numpy as np
import pytest
from PIL import Image

from signpipe.data import synthetic_hands as sh
from signpipe.data.hand_drawing import make_signer_style, render_hand
from signpipe.data.hand_shapes import LSE_HANDSHAPES, LSE_STATIC_LETTERS
from signpipe.errors import DataRootError

NAME_RE = re.compile(r"^signer(?P<signer>\d+)_(?P<label>.+)_(?P<index>\d{3})\.(?P<ext>[a-z]+)$")
SMALL = sh.SyntheticDataSpec(letters=("A", "B", "Ñ"), images_per_class=8, image_size=64)


def _image_files(root: pathlib.Path) -> list[pathlib.Path]:
    """Every non-hidden file below root, sorted."""
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


def _tree_bytes(root: pathlib.Path) -> dict[str, bytes]:
    """Map relative path -> file bytes for every file below root (marker included)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def default_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, dict]:
    """The default demo spec, generated once for the module."""
    root = tmp_path_factory.mktemp("default") / "data"
    return root, sh.generate_dataset(root)


def test_letter_tables() -> None:
    assert "".join(LSE_STATIC_LETTERS) == "ABCDEFGHIKLMNÑOPQRSTUVWXY"
    assert len(LSE_STATIC_LETTERS) == 25
    assert sh.DEMO_LETTERS == ("A", "B", "C", "E", "L", "Ñ")
    assert tuple(LSE_HANDSHAPES) == LSE_STATIC_LETTERS
    configurations = list(LSE_HANDSHAPES.values())
    assert len(set(configurations)) == len(configurations), "two letters share a hand shape"
    assert sh.SyntheticDataSpec().letters == sh.DEMO_LETTERS


def test_layout_and_counts(tmp_path: pathlib.Path) -> None:
    counts = sh.generate_dataset(tmp_path / "ds", SMALL)
    root = tmp_path / "ds"
    assert counts == {"A": 8, "B": 8, "Ñ": 8}
    assert sorted(p.name for p in root.iterdir()) == sorted([sh.MARKER_FILENAME, "A", "B", "Ñ"])
    for label in SMALL.letters:
        files = sorted((root / label).iterdir())
        assert len(files) == 8
        signers = collections.Counter()
        indices = []
        for path in files:
            match = NAME_RE.match(path.name)
            assert match, path.name
            assert match["label"] == label
            signers[int(match["signer"])] += 1
            indices.append(int(match["index"]))
        assert sorted(indices) == list(range(8))
        assert signers == {1: 2, 2: 2, 3: 2, 4: 2}  # 4 signers share the images evenly
    marker = json.loads((root / sh.MARKER_FILENAME).read_text(encoding="utf-8"))
    assert marker["spec"]["letters"] == ["A", "B", "Ñ"]
    assert marker["spec"]["images_per_class"] == 8


def test_deterministic_and_seed_dependent(tmp_path: pathlib.Path) -> None:
    spec = sh.SyntheticDataSpec(
        letters=("C", "Ñ"), images_per_class=6, image_size=64, formats=("png", "jpeg", "webp")
    )
    sh.generate_dataset(tmp_path / "one", spec)
    sh.generate_dataset(tmp_path / "two", spec)
    one, two = _tree_bytes(tmp_path / "one"), _tree_bytes(tmp_path / "two")
    assert one == two

    other = sh.SyntheticDataSpec(
        letters=("C", "Ñ"),
        images_per_class=6,
        image_size=64,
        formats=("png", "jpeg", "webp"),
        seed=1,
    )
    sh.generate_dataset(tmp_path / "three", other)
    three = _tree_bytes(tmp_path / "three")
    images = [name for name in one if not name.endswith(".json")]
    assert sorted(images) == sorted(n for n in three if not n.endswith(".json"))
    assert all(one[name] != three[name] for name in images)


def test_render_hand_is_a_pure_function_of_its_rng() -> None:
    style = make_signer_style(0, 1)
    a = render_hand("L", np.random.default_rng(7), 96, style)
    b = render_hand("L", np.random.default_rng(7), 96, style)
    c = render_hand("L", np.random.default_rng(8), 96, style)
    assert a.mode == "RGB" and a.size == (96, 96)
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()
    assert render_hand("Y", np.random.default_rng(0), 64).size == (64, 64)


def test_every_file_decodes_as_rgb_of_the_right_size(default_dataset) -> None:
    root, counts = default_dataset
    files = _image_files(root)
    assert len(files) == sum(counts.values()) == 6 * 40
    for path in files:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            image.load()
            assert image.size == (160, 160), path
            assert image.mode == "RGB", path


def test_format_cycle(tmp_path: pathlib.Path) -> None:
    spec = sh.SyntheticDataSpec(
        letters=("E", "L"),
        images_per_class=8,
        image_size=48,
        formats=("png", "bmp", "webp", "jpeg"),
    )
    sh.generate_dataset(tmp_path, spec)
    expected_format = {"png": "PNG", "bmp": "BMP", "webp": "WEBP", "jpg": "JPEG"}
    for label in spec.letters:
        files = sorted((tmp_path / label).iterdir())
        extensions = collections.Counter(p.suffix for p in files)
        assert extensions == {".png": 2, ".bmp": 2, ".webp": 2, ".jpg": 2}
        for path in files:
            index = int(NAME_RE.match(path.name)["index"])
            assert path.suffix == [".png", ".bmp", ".webp", ".jpg"][index % 4]
            with Image.open(path) as image:
                assert image.format == expected_format[path.suffix[1:]]
                assert image.mode == "RGB"


def test_enye_folder_and_utf8_file_names(tmp_path: pathlib.Path) -> None:
    sh.generate_dataset(tmp_path, SMALL)
    raw_entries = os.listdir(os.fsencode(tmp_path))
    assert "Ñ".encode() in raw_entries  # NFC, UTF-8 encoded: b"\xc3\x91"
    raw_files = os.listdir(os.fsencode(tmp_path / "Ñ"))
    assert len(raw_files) == 8
    for raw in raw_files:
        name = raw.decode("utf-8")  # raises if the name is not UTF-8
        assert unicodedata.is_normalized("NFC", name)
        assert name.startswith("signer") and "_Ñ_" in name
    # A decomposed "N" + combining tilde is accepted and normalised to the same letter.
    assert sh.SyntheticDataSpec(letters=("N\u0303",)).letters == ("Ñ",)


def test_ensure_dataset_reuses_matching_data(tmp_path: pathlib.Path, monkeypatch) -> None:
    root = tmp_path / "demo"
    assert sh.ensure_dataset(root, SMALL) == {"A": 8, "B": 8, "Ñ": 8}
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in _image_files(root)}

    def fail(*args, **kwargs):
        raise AssertionError("ensure_dataset regenerated a data set that matched its spec")

    monkeypatch.setattr(sh, "generate_dataset", fail)
    assert sh.ensure_dataset(root, SMALL) == {"A": 8, "B": 8, "Ñ": 8}
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in _image_files(root)} == before


def test_ensure_dataset_regenerates_when_spec_changes(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "demo"
    sh.ensure_dataset(root, SMALL)
    smaller = sh.SyntheticDataSpec(letters=("A", "L"), images_per_class=4, image_size=64, seed=3)
    assert sh.ensure_dataset(root, smaller) == {"A": 4, "L": 4}
    # Stale images (letters and indices no longer in the spec) are gone.
    assert sorted(p.name for p in root.iterdir()) == sorted([sh.MARKER_FILENAME, "A", "L"])
    assert len(list((root / "A").iterdir())) == 4
    marker = json.loads((root / sh.MARKER_FILENAME).read_text(encoding="utf-8"))
    assert marker["spec"] == smaller.to_json_dict()
    # A matching marker with missing images is repaired as well.
    next((root / "L").iterdir()).unlink()
    assert sh.ensure_dataset(root, smaller) == {"A": 4, "L": 4}
    assert len(list((root / "L").iterdir())) == 4


def test_refuses_to_write_into_a_folder_with_other_files(tmp_path: pathlib.Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(DataRootError, match="--data-root") as info:
        sh.ensure_dataset(tmp_path, SMALL)
    assert str(tmp_path) in str(info.value) and "notes.txt" in str(info.value)
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"
    with pytest.raises(DataRootError, match="not a directory"):
        sh.generate_dataset(tmp_path / "notes.txt", SMALL)


def test_unknown_letter_raises_value_error() -> None:
    with pytest.raises(ValueError, match="'J'") as info:
        sh.SyntheticDataSpec(letters=("A", "J"))
    assert "Ñ" in str(info.value) and "Y" in str(info.value)  # names the valid letters
    with pytest.raises(ValueError, match="'Z'"):
        render_hand("Z", np.random.default_rng(0), 64)
    with pytest.raises(ValueError, match="tiff"):
        sh.SyntheticDataSpec(formats=("png", "tiff"))


def _gradient_features(path: pathlib.Path) -> np.ndarray:
    """Standardised gradient magnitude of the image as 32x32 grayscale.

    Gradient magnitude rather than raw intensity: dark hands on light walls and light hands on
    dark walls flip the sign of raw pixels, which no linear pixel classifier can generalise over.
    """
    with Image.open(path) as image:
        gray = np.asarray(
            image.convert("L").resize((32, 32), Image.Resampling.BILINEAR), dtype=np.float64
        )
    gy, gx = np.gradient(gray)
    feature = np.hypot(gx, gy).ravel()
    return (feature - feature.mean()) / (feature.std() + 1e-6)


def test_classes_are_learnable_across_signers_but_not_identical(default_dataset) -> None:
    root, _ = default_dataset
    letters = sh.DEMO_LETTERS
    features, labels, signers, pixel_hashes = [], [], [], set()
    for label_index, label in enumerate(letters):
        for path in sorted((root / label).iterdir()):
            features.append(_gradient_features(path))
            labels.append(label_index)
            signers.append(int(NAME_RE.match(path.name)["signer"]))
            with Image.open(path) as image:
                pixel_hashes.add(hashlib.sha256(image.tobytes()).hexdigest())
    x, y, g = np.array(features), np.array(labels), np.array(signers)
    assert len(pixel_hashes) == len(x), "pixel-identical images"

    # Images of a class vary: no two are close to identical.
    for label_index in range(len(letters)):
        members = x[y == label_index]
        distances = np.linalg.norm(members[:, None] - members[None], axis=-1)
        assert distances[~np.eye(len(members), dtype=bool)].min() > 1.0

    train, test = g <= 3, g == 4
    assert test.sum() == 10 * len(letters)
    centroids = np.stack([x[train & (y == c)].mean(axis=0) for c in range(len(letters))])
    distances = ((x[test][:, None, :] - centroids[None]) ** 2).sum(axis=-1)
    accuracy = float((distances.argmin(axis=1) == y[test]).mean())
    chance = 1.0 / len(letters)
    assert accuracy > 2.0 * chance, f"nearest-centroid accuracy {accuracy:.2f} on signer 4"
