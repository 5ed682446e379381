"""The Beam step that reads, checks and hand-analyses image files, a thread per core."""

import dataclasses
import hashlib
import os
import re
from concurrent.futures import ThreadPoolExecutor

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from signpipe.components.image_folder_example_gen import (
    folder_layout,
    hand_analysis,
    image_facts,
    split_assignment,
)
from signpipe.errors import DataRootError
from signpipe.pipeline import progress_log

QUARANTINE = "quarantine"
_METRICS_NAMESPACE = "image_folder_example_gen"


@dataclasses.dataclass(frozen=True)
class Image:
    """One usable image on its way through the pipeline.

    Between ReadImages and `with_bytes_again` its facts hold no bytes (`encoded` is empty):
    the in-process DirectRunner keeps every stage's elements in memory, and the bytes are
    most of an image's weight there.
    """

    path: str
    label: str
    group: str
    facts: image_facts.ImageFacts


def _read_file(path: str) -> bytes:
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        return handle.read()


def with_bytes_again(image: Image) -> Image:
    """The image with its TF-decodable bytes read from its file again, for its tf.Example;
    DataRootError when the file changed since it was read and measured."""
    content = _read_file(image.path)
    if hashlib.sha256(content).hexdigest() != image.facts.content_hash:
        raise DataRootError(
            f"{image.path} changed while it was being ingested: run the pipeline again once "
            "nothing writes to the data root"
        )
    facts = dataclasses.replace(image.facts, encoded=image_facts.decodable_bytes(content))
    return dataclasses.replace(image, facts=facts)


class ReadImages(beam.DoFn):
    """Reads and checks batches of files; bad files go to the quarantine output with the reason.

    The files of a batch are read on a thread per core, each thread with its own MediaPipe
    graph: MediaPipe and Pillow's decoders release the GIL, so hand analysis (60-80 ms an
    image) runs about twice as fast on two cores as in one thread, with the same results.
    """

    def __init__(
        self,
        root: str,
        group_regex: str | None,
        group_folder_level: int | None,
        hand_min_confidence: float | None,
    ):
        self._root = root
        self._group_regex = group_regex
        self._group_folder_level = group_folder_level
        self._hand_min_confidence = hand_min_confidence  # None: no hand analysis
        self._good = beam.metrics.Metrics.counter(_METRICS_NAMESPACE, "images_read")
        self._bad = beam.metrics.Metrics.counter(_METRICS_NAMESPACE, "files_quarantined")

    def setup(self):
        self._progress: progress_log.Progress | None = None
        self._regex = re.compile(self._group_regex) if self._group_regex else None
        self._analyzers = (
            None
            if self._hand_min_confidence is None
            else hand_analysis.HandAnalyzerPerThread(self._hand_min_confidence)
        )
        self._pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)

    def teardown(self):
        self._pool.shutdown()
        if self._analyzers is not None:
            self._analyzers.close()

    def process(self, paths: list[str], total: int):
        if self._progress is None:
            # Counts this process's files: all of them with the in-memory DirectRunner.
            self._progress = progress_log.Progress("ImageFolderExampleGen", "files read", total)
        for path, (image, reason) in zip(paths, self._pool.map(self._read_one, paths), strict=True):
            self._progress.advance()
            if image is None:
                self._bad.inc()
                yield beam.pvalue.TaggedOutput(QUARANTINE, {"path": path, "reason": reason})
                continue
            self._good.inc()
            yield image.facts.content_hash, image

    def _hands(self) -> hand_analysis.HandAnalyzer | None:
        """This thread's MediaPipe graph, or None without hand analysis."""
        return None if self._analyzers is None else self._analyzers.analyzer()

    def _read_one(self, path: str) -> tuple[Image | None, str]:
        """(the image, "") or (None, why the file is quarantined)."""
        relative = folder_layout.relative_path(self._root, path)
        try:
            group = split_assignment.group_key(relative, self._regex, self._group_folder_level)
            image_facts.check_extension(path)
            facts = image_facts.read_image_facts(path, _read_file(path), self._hands())
        except IsADirectoryError:
            return None, "a folder where images were expected: set group_folder_level to read it"
        except (ValueError, OSError) as err:
            return None, str(err) if isinstance(err, ValueError) else f"unreadable: {err}"
        facts = dataclasses.replace(facts, encoded=b"")  # read again when written
        return Image(path, folder_layout.label_of(relative), group, facts), ""
