"""Reading one file: every supported format, every bad-file case, and the measured facts."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageFilter

from signpipe.components.image_folder_example_gen.image_facts import (
    BadImageError,
    read_image_facts,
)
from tests.conftest import encode_image


@pytest.mark.parametrize(
    ("name", "fmt", "mode", "channels"),
    [
        ("a.jpg", "JPEG", "RGB", 3),
        ("a.JPEG", "JPEG", "L", 1),
        ("a.png", "PNG", "RGBA", 4),
        ("a.PNG", "PNG", "L", 1),
        ("a.bmp", "BMP", "RGB", 3),
        ("a.webp", "WEBP", "RGB", 3),
        ("a.jpg", "JPEG", "CMYK", 4),
        ("a.png", "PNG", "P", 3),
    ],
)
def test_supported_formats_decode_and_stay_decodable_by_tensorflow(name, fmt, mode, channels):
    content = encode_image(fmt, size=(48, 32), mode=mode)
    facts = read_image_facts(f"/data/A/{name}", content)
    assert (facts.width, facts.height, facts.channels) == (48, 32, channels)
    assert facts.image_format == fmt.lower()
    assert facts.file_size == len(content)
    decoded = tf.io.decode_image(facts.encoded, expand_animations=False)
    assert tuple(decoded.shape[:2]) == (32, 48)


def test_formats_tensorflow_reads_are_kept_byte_for_byte():
    for fmt, name in [("JPEG", "a.jpg"), ("PNG", "a.png"), ("BMP", "a.bmp")]:
        content = encode_image(fmt)
        assert read_image_facts(name, content).encoded == content


def test_webp_is_reencoded_losslessly():
    content = encode_image("WEBP", size=(20, 10))
    facts = read_image_facts("x/a.webp", content)
    assert facts.encoded != content
    original = np.asarray(Image.open(io.BytesIO(content)).convert("RGB"))
    assert np.array_equal(tf.io.decode_image(facts.encoded).numpy(), original)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("a.png", b"", "empty file"),
        ("a.jpg", b"this is not an image at all", "not an image"),
        ("a.png", encode_image("PNG", size=(64, 64))[:200], "truncated or corrupt"),
        ("a.jpg", encode_image("JPEG", size=(64, 64))[:300], "truncated or corrupt"),
        ("a.gif", encode_image("GIF"), "unsupported extension '.gif'"),
        ("README", b"text", "unsupported extension '(none)'"),
        ("a.jpg", encode_image("PNG"), "content is PNG but the extension says JPEG"),
    ],
)
def test_bad_files_are_refused_with_the_reason(name, content, reason):
    with pytest.raises(BadImageError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        read_image_facts(f"/data/A/{name}", content)


def test_content_hash_is_of_the_file_bytes():
    content = encode_image("PNG", seed=3)
    assert (
        read_image_facts("a.png", content).content_hash
        == read_image_facts("b.png", content).content_hash
    )
    assert (
        read_image_facts("a.png", content).content_hash
        != read_image_facts("a.png", encode_image("PNG", seed=4)).content_hash
    )


def test_blur_lowers_sharpness_and_brightness_follows_pixels():
    rng = np.random.default_rng(0)
    sharp = Image.fromarray(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8))
    blurred = sharp.filter(ImageFilter.GaussianBlur(3))

    def png(image):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()

    assert (
        read_image_facts("s.png", png(sharp)).sharpness
        > 10 * read_image_facts("b.png", png(blurred)).sharpness
    )
    dark = Image.new("RGB", (16, 16), (20, 20, 20))
    light = Image.new("RGB", (16, 16), (230, 230, 230))
    assert read_image_facts("d.png", png(dark)).brightness == pytest.approx(20, abs=1)
    assert read_image_facts("l.png", png(light)).brightness == pytest.approx(230, abs=1)
