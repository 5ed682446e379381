"""Torch-free reader of legacy (pre-zip, torch < 1.6) PyTorch checkpoints that hold a state dict.

The legacy format written by `torch.save(..., _use_new_zipfile_serialization=False)` is a run of
plain pickles followed by raw data:

1. the magic number 0x1950A86A20F9469CFC6C, 2. the protocol version 1001, 3. a sys-info dict
(byte order, C type sizes), 4. the object itself, in which each tensor is a call
``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`` and each
storage a persistent id ``("storage", torch.<Type>Storage, key, location, numel, view)``,
5. the list of storage keys; then, in that order, each storage as a little-endian int64 element
count followed by its raw bytes.

Only those classes are allowed, so no code from the file runs; anything else is refused.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import os
import pickle
import struct

import numpy as np

from signpipe.errors import SignpipeError

__all__ = [
    "LEGACY_MAGIC_NUMBER",
    "LEGACY_PROTOCOL_VERSION",
    "TorchCheckpointError",
    "load_legacy_state_dict",
    "parse_legacy_state_dict",
]

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001
_ZIP_MAGIC = b"PK\x03\x04"

# torch storage class -> NumPy dtype (little-endian, as the sys-info header must declare).
_STORAGE_DTYPES: dict[str, np.dtype] = {
    name: np.dtype(code).newbyteorder("<")
    for name, code in {
        "FloatStorage": "f4",
        "DoubleStorage": "f8",
        "HalfStorage": "f2",
        "LongStorage": "i8",
        "IntStorage": "i4",
        "ShortStorage": "i2",
        "CharStorage": "i1",
        "ByteStorage": "u1",
        "BoolStorage": "?",
    }.items()
}


class TorchCheckpointError(SignpipeError):
    """A file is not a legacy PyTorch state dict that this reader can read safely."""


@dataclasses.dataclass(frozen=True)
class _StorageType:
    """Stand-in for a `torch.<Type>Storage` class named in the pickle."""

    name: str


@dataclasses.dataclass
class _Storage:
    """A storage announced by a persistent id; its data is read after the object pickle."""

    key: str
    type_name: str
    numel: int
    data: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class _TensorRef:
    """What `_rebuild_tensor_v2` was asked to build: a strided view into a storage."""

    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: object, offset: object, size: object, stride: object, *_: object):
    """Stand-in for torch._utils._rebuild_tensor(_v2): record the view, build it later."""
    if not isinstance(storage, _Storage):
        raise TorchCheckpointError(f"a tensor refers to {type(storage).__name__}, not a storage")
    if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)):
        raise TorchCheckpointError(f"a tensor has malformed size {size!r} / stride {stride!r}")
    if not all(_is_int(v) and v >= 0 for v in (offset, *size, *stride)):
        raise TorchCheckpointError(
            f"a tensor has a negative or non-integer offset/size/stride: {offset!r}, {size!r}, "
            f"{stride!r}"
        )
    return _TensorRef(storage, offset, size, stride)


def _is_int(value: object) -> bool:
    """Whether value is a plain int (bool excluded)."""
    return isinstance(value, int) and not isinstance(value, bool)


class _Unpickler(pickle.Unpickler):
    """Unpickler that allows only the few globals of a legacy state dict."""

    def __init__(self, file: io.BytesIO, storages: dict[str, _Storage] | None) -> None:
        """storages=None: a header pickle, which may name no class and no storage."""
        super().__init__(file)
        self._storages = storages

    def find_class(self, module: str, name: str) -> object:
        """Map the allowed torch globals to stand-ins; refuse every other class."""
        if self._storages is not None:
            if (module, name) == ("collections", "OrderedDict"):
                return collections.OrderedDict
            if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
                return _rebuild_tensor
            if module == "torch" and name in _STORAGE_DTYPES:
                return _StorageType(name)
        raise TorchCheckpointError(
            f"the checkpoint refers to {module}.{name}, which this reader does not allow (it reads "
            "only state dicts of plain tensors)"
        )

    def persistent_load(self, pid: object) -> _Storage:
        """Return the (shared) storage stand-in for a ("storage", ...) persistent id."""
        if self._storages is None or not (
            isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"
        ):
            raise TorchCheckpointError(f"unexpected persistent id {pid!r:.200}")
        _, storage_type, key, location, numel, view = pid
        if not isinstance(storage_type, _StorageType):
            raise TorchCheckpointError(f"storage {key!r} has no storage type: {storage_type!r}")
        if view is not None:
            raise TorchCheckpointError(f"storage {key!r} is a storage view (torch < 0.4): refused")
        if not (isinstance(key, str) and isinstance(location, str) and _is_int(numel)):
            raise TorchCheckpointError(f"malformed storage id {pid!r:.200}")
        if numel < 0:
            raise TorchCheckpointError(f"storage {key!r} has a negative size {numel}")
        storage = self._storages.setdefault(key, _Storage(key, storage_type.name, numel))
        if (storage.type_name, storage.numel) != (storage_type.name, numel):
            raise TorchCheckpointError(f"storage {key!r} is declared twice with different types")
        return storage


def load_legacy_state_dict(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a legacy-format PyTorch state dict file into NumPy arrays (no torch needed)."""
    with open(path, "rb") as handle:
        data = handle.read()
    return parse_legacy_state_dict(data, source=os.fspath(path))


def parse_legacy_state_dict(data: bytes, source: str = "<bytes>") -> dict[str, np.ndarray]:
    """Parse the bytes of a legacy-format PyTorch state dict into NumPy arrays."""
    if data.startswith(_ZIP_MAGIC):
        raise TorchCheckpointError(
            f"{source} is a zip-format PyTorch checkpoint (the torch >= 1.6 default); this reader "
            "handles only the legacy format. Re-save it with "
            "torch.save(state_dict, path, _use_new_zipfile_serialization=False)."
        )
    stream = io.BytesIO(data)
    try:
        obj, storages = _read_pickles(stream)
        _read_storages(stream, storages)
    except TorchCheckpointError as exc:
        raise TorchCheckpointError(f"{source}: {exc}") from None
    except Exception as exc:  # garbage makes pickle raise almost anything
        raise TorchCheckpointError(
            f"{source} is not a legacy PyTorch checkpoint ({type(exc).__name__}: {exc})"
        ) from exc
    if stream.read(1):
        raise TorchCheckpointError(f"{source} has unexpected bytes after the last storage")
    if not isinstance(obj, dict):
        raise TorchCheckpointError(f"{source} holds a {type(obj).__name__}, not a state dict")
    state_dict = {}
    for key, value in obj.items():
        if not (isinstance(key, str) and isinstance(value, _TensorRef)):
            raise TorchCheckpointError(
                f"{source}: entry {key!r} is a {type(value).__name__}, not a tensor"
            )
        try:
            state_dict[key] = _materialise(value)
        except TorchCheckpointError as exc:
            raise TorchCheckpointError(f"{source}: tensor {key!r}: {exc}") from None
    return state_dict


def _read_pickles(stream: io.BytesIO) -> tuple[object, dict[str, _Storage]]:
    """Read and check the header pickles, then the object pickle; return it and its storages."""
    magic = _Unpickler(stream, None).load()
    if magic != LEGACY_MAGIC_NUMBER:
        raise TorchCheckpointError("not a legacy PyTorch checkpoint (wrong magic number)")
    version = _Unpickler(stream, None).load()
    if version != LEGACY_PROTOCOL_VERSION:
        raise TorchCheckpointError(f"unsupported legacy protocol version {version!r}")
    sys_info = _Unpickler(stream, None).load()
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise TorchCheckpointError(f"only little-endian checkpoints are supported: {sys_info!r}")
    storages: dict[str, _Storage] = {}
    obj = _Unpickler(stream, storages).load()
    return obj, storages


def _read_storages(stream: io.BytesIO, storages: dict[str, _Storage]) -> None:
    """Read the storage key list and each storage's count-prefixed raw bytes."""
    keys = _Unpickler(stream, None).load()
    if not (isinstance(keys, list) and all(isinstance(key, str) for key in keys)):
        raise TorchCheckpointError("the storage key list is malformed")
    if len(set(keys)) != len(keys) or set(keys) != set(storages):
        raise TorchCheckpointError(
            f"the storage key list ({len(keys)} keys) does not match the {len(storages)} "
            "storages the tensors use"
        )
    for key in keys:
        storage = storages[key]
        header = stream.read(8)
        if len(header) != 8:
            raise TorchCheckpointError(f"storage {key!r} is truncated")
        (numel,) = struct.unpack("<q", header)
        if numel != storage.numel:
            raise TorchCheckpointError(
                f"storage {key!r} holds {numel} elements, the pickle announced {storage.numel}"
            )
        dtype = _STORAGE_DTYPES[storage.type_name]
        raw = stream.read(numel * dtype.itemsize)
        if len(raw) != numel * dtype.itemsize:
            raise TorchCheckpointError(f"storage {key!r} is truncated")
        storage.data = np.frombuffer(raw, dtype=dtype)


def _materialise(ref: _TensorRef) -> np.ndarray:
    """Build an owned, C-contiguous array from a strided view into a storage."""
    data = ref.storage.data
    assert data is not None  # _read_storages filled every storage the tensors use
    dtype = data.dtype.newbyteorder("=")
    if 0 in ref.size:
        return np.zeros(ref.size, dtype=dtype)
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride, strict=True))
    if last >= data.size:
        raise TorchCheckpointError(
            f"view (offset {ref.offset}, size {ref.size}, stride {ref.stride}) runs past the end "
            f"of its storage of {data.size} elements"
        )
    view = np.lib.stride_tricks.as_strided(
        data[ref.offset :],
        shape=ref.size,
        strides=tuple(s * data.itemsize for s in ref.stride),
        writeable=False,
    )
    return np.array(view, dtype=dtype, order="C")
