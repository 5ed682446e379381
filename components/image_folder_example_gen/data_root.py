"""The class folders and files under a data root, and the groups its images fall into."""

import re
from collections.abc import Iterator

from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2

from signpipe.components.image_folder_example_gen import folder_layout, split_assignment
from signpipe.components.image_folder_example_gen.driver import resolve_unresolved_span
from signpipe.errors import DataRootError


def list_files(folder: str, depth: int) -> Iterator[str]:
    """Every entry `depth` levels below a folder (dot-files skipped); shallower files too.

    Entries that are not images (folders, broken links) are yielded so that reading them
    quarantines them with a reason instead of dropping them silently.
    """
    for name in sorted(fileio.listdir(folder)):
        name = name.rstrip("/")
        if name.startswith("."):
            continue
        path = f"{folder}/{name}"
        if depth > 1 and fileio.isdir(path):
            yield from list_files(path, depth - 1)
        else:
            yield path


def class_folders(root: str) -> list[str]:
    """Class folder names under the root, or a DataRootError saying what is wrong."""
    if not fileio.exists(root):
        raise DataRootError(
            f"data root '{root}' does not exist: point --data-root at a folder holding one "
            "sub-folder per class (e.g. <root>/A/img1.jpg)"
        )
    if not fileio.isdir(root):
        raise DataRootError(f"data root '{root}' is a file, not a folder of class folders")
    names = [
        name.rstrip("/")
        for name in fileio.listdir(root)
        if not name.startswith(".") and fileio.isdir(f"{root.rstrip('/')}/{name}")
    ]
    if not names:
        raise DataRootError(
            f"data root '{root}' holds no class folders: put each class's images in "
            "<root>/<class name>/"
        )
    return sorted(names)


def data_root_groups(data_root: str, group_regex: str | None, level: int | None) -> list[str]:
    """The groups of the images under a data root (its latest span if it has `{SPAN}`)."""
    input_base, pattern = folder_layout.split_data_root(data_root, level)
    input_config = example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name="images", pattern=pattern)]
    )
    resolved = resolve_unresolved_span(input_base, input_config, None)
    root = folder_layout.resolved_root(input_base, resolved[0] if resolved else pattern, level)
    regex = re.compile(group_regex) if group_regex else None
    groups = set()
    for folder in class_folders(root):
        for path in list_files(f"{root}/{folder}", folder_layout.file_depth(level) - 1):
            try:
                relative = folder_layout.relative_path(root, path)
                groups.add(split_assignment.group_key(relative, regex, level))
            except ValueError:
                continue  # ingestion quarantines it with the reason
    return sorted(groups)
