"""Read one image file: check it, measure it, and say why when it cannot be used."""

import dataclasses
import hashlib
import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from signpipe.components.image_folder_example_gen.hand_analysis import (
    NO_HAND,
    HandAnalyzer,
    HandFacts,
)

# Extension (lower case) -> the Pillow format its content must have.
SUPPORTED_EXTENSIONS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".bmp": "BMP",
    ".webp": "WEBP",
}
_CHANNELS_BY_MODE = {"1": 1, "L": 1, "P": 3, "LA": 2, "RGB": 3, "RGBA": 4, "CMYK": 4, "I;16": 1}
_LAPLACIAN_SIDE = 256  # sharpness is measured on a fixed-size grey copy so sizes compare


@dataclasses.dataclass(frozen=True)
class ImageFacts:
    """What ExampleGen records about one usable image."""

    # Bytes TensorFlow's decode_image can read (see _tf_decodable); ingestion empties them
    # while it carries the facts through its stages (read_images.Image).
    encoded: bytes
    image_format: str  # the file's own format, lower case: jpeg, png, bmp, webp
    height: int
    width: int
    channels: int
    file_size: int
    content_hash: str  # sha256 of the file's bytes
    brightness: float  # mean luma, 0..255
    sharpness: float  # variance of the Laplacian of the luma
    hand: HandFacts = NO_HAND  # NO_HAND also when hand analysis is off


class BadImageError(ValueError):
    """The file is not a usable image; the message is the quarantine reason."""


def check_extension(path: str) -> str:
    """Return the Pillow format a path's extension promises, or raise BadImageError."""
    dot = path.rfind(".")
    ext = path[dot:].lower() if dot > path.rfind("/") else ""
    if ext not in SUPPORTED_EXTENSIONS:
        supported = ", ".join(sorted(SUPPORTED_EXTENSIONS))
        raise BadImageError(
            f"unsupported extension '{ext or '(none)'}': convert it to one of {supported}"
        )
    return SUPPORTED_EXTENSIONS[ext]


def open_image(content: bytes) -> Image.Image:
    """Decode image bytes with Pillow, or raise BadImageError saying what is wrong."""
    if not content:
        raise BadImageError("empty file (0 bytes): re-export or remove it")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(content))
            image.load()
    except UnidentifiedImageError:
        raise BadImageError("not an image (no known image format in its content)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise BadImageError(f"too large to decode safely: {err}") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise BadImageError(f"truncated or corrupt image: {err}") from None
    return image


def decodable_bytes(content: bytes) -> bytes:
    """Bytes TensorFlow's decode_image reads, for any image Pillow opens (see _tf_decodable)."""
    return _tf_decodable(open_image(content), content)


def read_image_facts(path: str, content: bytes, hands: HandAnalyzer | None = None) -> ImageFacts:
    """Decode and measure one file's bytes (and find its hand), or raise BadImageError."""
    expected_format = check_extension(path)
    image = open_image(content)
    if image.format != expected_format:
        raise BadImageError(
            f"content is {image.format} but the extension says {expected_format}: "
            "rename the file to match its content"
        )
    channels = _CHANNELS_BY_MODE.get(image.mode, len(image.getbands()))
    grey = image.convert("L")
    return ImageFacts(
        encoded=_tf_decodable(image, content),
        image_format=image.format.lower(),
        height=image.height,
        width=image.width,
        channels=channels,
        file_size=len(content),
        content_hash=hashlib.sha256(content).hexdigest(),
        brightness=float(np.asarray(grey, dtype=np.float32).mean()),
        sharpness=laplacian_variance(grey),
        hand=hands.analyze(np.asarray(image.convert("RGB"))) if hands else NO_HAND,
    )


def laplacian_variance(grey: Image.Image) -> float:
    """Variance of the 4-neighbour Laplacian of a grey image resized to a fixed side."""
    small = grey.resize((_LAPLACIAN_SIDE, _LAPLACIAN_SIDE), Image.BILINEAR)
    px = np.asarray(small, dtype=np.float32)
    lap = px[1:-1, :-2] + px[1:-1, 2:] + px[:-2, 1:-1] + px[2:, 1:-1] - 4.0 * px[1:-1, 1:-1]
    return float(lap.var())


def _tf_decodable(image: Image.Image, content: bytes) -> bytes:
    """Return the original bytes when tf.io.decode_image reads them, else a lossless PNG.

    TF 2.16 cannot decode WebP, CMYK JPEG or palette/compressed BMP, so those are
    re-encoded once here and Transform and serving only ever see JPEG, PNG or BMP.
    """
    if image.format == "PNG" or (image.format == "JPEG" and image.mode in ("L", "RGB")):
        return content
    if image.format == "BMP" and image.mode in ("RGB", "RGBA"):
        return content
    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
