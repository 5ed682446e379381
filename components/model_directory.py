"""The TF Serving model directory: numbered versions, atomic publishing, retention, models.config.

Layout: `<serving_root>/<model_name>/<version>/` (a SavedModel), with TFLite files of the
same version under `<serving_root>/<model_name>/tflite/<version>/`, and
`<serving_root>/models.config` listing every model. TF Serving only loads folders whose
name is an integer, so the hidden staging folders used while copying are never loaded.
"""

import os
import time
from collections.abc import Callable

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2
from tfx.dsl.io import fileio

MODELS_CONFIG_FILE = "models.config"
TFLITE_FOLDER = "tflite"


def versions(push_root: str) -> list[int]:
    """The published versions of one model, oldest first."""
    if not fileio.isdir(push_root):
        return []
    names = (name.rstrip("/") for name in fileio.listdir(push_root))
    return sorted(int(name) for name in names if name.isdigit())


def next_version(push_root: str) -> int:
    """A version above every published one: the Unix time, or one more than the newest."""
    published = versions(push_root)
    return max(int(time.time()), published[-1] + 1 if published else 0)


def publish(destination: str, fill: Callable[[str], None]) -> None:
    """Fill a hidden staging folder beside `destination`, then rename it into place.

    On a local or POSIX file system the rename is atomic, so a reader (TF Serving's file
    system poller, a copy job) sees no version or a complete one, never a half-copied one.
    On object stores (GCS, S3) a rename is a copy; see README "Serving".
    """
    parent, name = os.path.split(destination.rstrip("/"))
    staging = os.path.join(parent, f".{name}.partial")
    if fileio.exists(staging):  # left by a crashed attempt
        fileio.rmtree(staging)
    fileio.makedirs(staging)
    try:
        fill(staging)
        fileio.rename(staging, destination)
    except BaseException:
        if fileio.exists(staging):
            fileio.rmtree(staging)
        raise


def copy_tree(source: str, destination: str) -> None:
    """Copy a folder's files and sub-folders into an existing destination folder."""
    for directory, _, files in fileio.walk(source):
        relative = os.path.relpath(directory, source)
        target = os.path.normpath(os.path.join(destination, relative))
        fileio.makedirs(target)
        for file_name in files:
            fileio.copy(os.path.join(directory, file_name), os.path.join(target, file_name))


def prune(push_root: str, keep: int) -> list[int]:
    """Delete all but the newest `keep` versions (and their TFLite files); 0 keeps all."""
    published = versions(push_root)
    removed = published[:-keep] if keep > 0 else []
    for version in removed:
        for folder in (
            os.path.join(push_root, str(version)),
            os.path.join(push_root, TFLITE_FOLDER, str(version)),
        ):
            if fileio.exists(folder):
                fileio.rmtree(folder)
    return removed


def write_models_config(serving_root: str, base_path: str, served_versions: int) -> str:
    """Write `<serving_root>/models.config` listing every model folder that has a version.

    `base_path` is where the serving root is mounted in the server (`/models` for the
    stock image); empty means this machine's path. Written to a temporary file and
    renamed, so TF Serving's config poller never reads half a file.
    """
    config = model_server_config_pb2.ModelServerConfig()
    for name in sorted(fileio.listdir(serving_root)):
        name = name.rstrip("/")
        local = os.path.join(serving_root, name)
        if name.startswith(".") or not fileio.isdir(local) or not versions(local):
            continue
        entry = config.model_config_list.config.add(
            name=name,
            base_path=f"{base_path.rstrip('/')}/{name}" if base_path else os.path.abspath(local),
            model_platform="tensorflow",
        )
        entry.model_version_policy.latest.num_versions = served_versions
    path = os.path.join(serving_root, MODELS_CONFIG_FILE)
    temporary = path + ".tmp"
    with fileio.open(temporary, "w") as handle:
        handle.write(text_format.MessageToString(config))
    fileio.rename(temporary, path, overwrite=True)
    return path


def read_models_config(path: str) -> model_server_config_pb2.ModelServerConfig:
    """Parse a TF Serving models.config file."""
    with fileio.open(path) as handle:
        return text_format.Parse(handle.read(), model_server_config_pb2.ModelServerConfig())
