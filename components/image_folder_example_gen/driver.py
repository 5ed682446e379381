"""Driver: TFX's span resolution, with an input fingerprint that survives unreadable files."""

import copy
import hashlib
import os

from tfx.components.example_gen import driver, input_processor
from tfx.components.example_gen import utils as example_gen_utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.utils import proto_utils

_NANOS = 10**9


def tolerant_fingerprint(split_name: str, file_pattern: str) -> str:
    """TFX's size+mtime fingerprint, folding in files that cannot be stat-ed by name.

    TFX's own fingerprint raises on a broken link or a file removed mid-listing, which
    would sink the run before the executor can quarantine the file.
    """
    total_bytes = xor_checksum = sum_checksum = 0
    unreadable = hashlib.sha256()
    files = sorted(fileio.glob(file_pattern))
    for path in files:
        try:
            stat = fileio.stat(path)
        except (fileio.NotFoundError, OSError):
            unreadable.update(path.encode())
            continue
        total_bytes += stat.length
        mtime = int(stat.mtime_nsec / _NANOS)
        xor_checksum ^= mtime
        sum_checksum += mtime
    return (
        f"split:{split_name},num_files:{len(files)},total_bytes:{total_bytes},"
        f"xor_checksum:{xor_checksum},sum_checksum:{sum_checksum},"
        f"unreadable:{unreadable.hexdigest()[:16]}"
    )


class ImageFolderInputProcessor(input_processor.FileBasedInputProcessor):
    """Resolves the span like FileBasedExampleGen and fingerprints tolerantly."""

    def resolve_span_and_version(self) -> tuple[int, int | None]:
        """Pick the span/version to ingest and fingerprint its files."""
        # A copy: the span search writes the resolved span into the split's pattern.
        [split] = [copy.deepcopy(split) for split in self._splits]
        # The one private TFX call: the span search itself, pinned with TFX 1.16.
        span, version = example_gen_utils._get_target_span_version(
            self._input_base_uri, split, range_config=self._range_config
        )
        self._fingerprint = tolerant_fingerprint(
            split.name, os.path.join(self._input_base_uri, split.pattern)
        )
        return span or 0, version


class ImageFolderDriver(driver.FileBasedDriver):
    """FileBasedDriver with the tolerant input processor."""

    def get_input_processor(self, splits, range_config=None, input_base_uri=None):
        """Returns the image-folder input processor."""
        return ImageFolderInputProcessor(input_base_uri, splits, range_config)


def resolve_unresolved_span(
    input_base: str, input_config: example_gen_pb2.Input, range_config_json: str | None
) -> tuple[str, int, int | None] | None:
    """(pattern, span, version) when no driver filled in the split's `{SPAN}`, else None.

    Open-source KFP never runs the pre-cache driver step that does this on Vertex AI.
    """
    [split] = input_config.splits
    if "{SPAN}" not in split.pattern and "{VERSION}" not in split.pattern:
        return None
    range_config = None
    if range_config_json:
        range_config = proto_utils.json_to_proto(range_config_json, range_config_pb2.RangeConfig())
    processor = ImageFolderInputProcessor(input_base, input_config.splits, range_config)
    span, version = processor.resolve_span_and_version()
    return processor.get_pattern_for_span_version(split.pattern, span, version), span, version
