"""Shared fixtures: images written on the fly, never taken from real data sets."""

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import signpipe  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
from tests.small_runs import LETTERS, small_config

warnings.filterwarnings("ignore", category=FutureWarning)

SHARED_RUN = "blessed_run"
# The modules whose tests use the shared run: one scheduling group, so it is made once.
SHARED_RUN_MODULES = {
    "tests/pipeline/test_model_pipeline.py",
    "tests/runs/test_run_report.py",
    "tests/inference/test_serving.py",
    "tests/components/test_serving_pusher.py",
}


def pytest_xdist_make_scheduler(config, log):
    """`make test`'s `-n auto --dist loadscope`: each module on one worker, and the modules
    on the shared run together (pytest 9 ignores the node ids xdist's loadgroup rewrites)."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return SHARED_RUN if module in SHARED_RUN_MODULES else module

    return ModuleGroups(config, log)


def pytest_collection_modifyitems(config, items):
    """Start the groups estimated longest (`slow(minutes=N)`) first, so that no worker is
    left alone with a long one at the end; each group's tests stay together, in order."""
    group = {}
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        if SHARED_RUN in item.fixturenames and module not in SHARED_RUN_MODULES:
            raise pytest.UsageError(f"{module} uses {SHARED_RUN}: add it to SHARED_RUN_MODULES")
        group[item] = SHARED_RUN if module in SHARED_RUN_MODULES else module
    minutes: dict[str, float] = {}
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        marker = item.get_closest_marker("slow")
        estimate = marker.kwargs.get("minutes", 1) if marker else 0
        minutes[group[item]] = max(minutes.get(group[item], 0), estimate)
        first.setdefault(group[item], index)
    position = {item: index for index, item in enumerate(items)}
    items.sort(key=lambda item: (-minutes[group[item]], first[group[item]], position[item]))


def encode_image(
    fmt: str = "PNG", size: tuple[int, int] = (40, 30), mode: str = "RGB", seed: int = 0
) -> bytes:
    """Bytes of a random image of the given Pillow format, size (w, h) and mode."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB").convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def write_image(tmp_path):
    """Write an image under tmp_path and return its path."""

    def _write(relative: str, fmt: str = "PNG", **kwargs) -> str:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_image(fmt, **kwargs))
        return str(path)

    return _write


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> Path:
    """Synthetic hands for four letters, in the one-folder-per-class layout."""
    from signpipe.data.synthetic_hands import SyntheticDataSpec, generate_dataset

    root = tmp_path_factory.mktemp("images")
    generate_dataset(root, SyntheticDataSpec(letters=LETTERS, images_per_class=16, image_size=96))
    return root


@pytest.fixture(scope="session")
def blessed_run(images, tmp_path_factory):
    """One whole small pipeline run that blessed and pushed a model (shared: it takes minutes)."""
    from signpipe.pipeline import local_runner

    config = small_config(tmp_path_factory.mktemp("home"), images)
    local_runner.run(config)
    return config


@pytest.fixture(scope="session")
def pushed_model(blessed_run) -> str:
    """The SavedModel folder the shared run pushed (its only push: later test runs are refused)."""
    from signpipe.components import model_directory

    push_root = Path(blessed_run.serving_root) / blessed_run.serving.model_name
    return str(push_root / str(model_directory.versions(str(push_root))[0]))
