"""Output names for input images that cannot collide: as much of each path as tells it apart."""

import os
from collections import Counter
from collections.abc import Sequence

SEPARATOR = "__"  # between folder names and the file's stem: `T__0_r`


def unique_names(paths: Sequence[str]) -> dict[str, str]:
    """{path: name}: the file's stem after as many of its folders as make it unique among
    `paths` (`0_r`, or `T__0_r` when another folder holds a `0_r` too), and its extension
    when only that differs. The same file given twice gets one name."""
    files = list(dict.fromkeys(os.path.abspath(path) for path in paths))
    depth = dict.fromkeys(files, 1)
    while True:
        names = {file: _name(file, depth[file]) for file in files}
        counts = Counter(names.values())
        longer = [f for f in files if counts[names[f]] > 1 and depth[f] <= len(_parts(f))]
        if not longer:
            break
        for file in longer:
            depth[file] += 1
    # Whole paths differ, so only names whose parts hold SEPARATOR can still meet: numbered.
    seen: Counter = Counter()
    for file in files:
        seen[names[file]] += 1
        if seen[names[file]] > 1:
            names[file] = f"{names[file]}-{seen[names[file]]}"
    return {path: names[os.path.abspath(path)] for path in paths}


def _parts(file: str) -> list[str]:
    return [part for part in file.split(os.sep) if part]


def _name(file: str, depth: int) -> str:
    """The last `depth` parts of the path, the file without its extension; the whole path
    with the extension beyond that."""
    parts = _parts(file)
    stem, extension = os.path.splitext(parts[-1])
    if depth > len(parts) and extension:
        stem = f"{stem}_{extension.lstrip('.')}"
    return SEPARATOR.join([*parts[-depth:-1], stem])
