"""How an image tree `<root>/<label>/[<sub-folders>/]<image>` maps to TFX input patterns."""

import unicodedata

SPAN = "{SPAN}"  # in a data root: the folder part that numbers spans
_PLACEHOLDERS = (SPAN, "{VERSION}")


def file_depth(group_folder_level: int | None) -> int:
    """Path components below the root: label folder, sub-folders, file."""
    return 2 + (group_folder_level or 0)


def split_data_root(data_root: str, group_folder_level: int | None) -> tuple[str, str]:
    """Turn a data root (maybe holding `{SPAN}`) into TFX's input_base and file pattern."""
    data_root = data_root.rstrip("/")
    glob_tail = "/".join(["*"] * file_depth(group_folder_level))
    first = min((data_root.find(p) for p in _PLACEHOLDERS if p in data_root), default=-1)
    if first < 0:
        return data_root, glob_tail
    cut = data_root.rfind("/", 0, first)
    input_base, templated = data_root[: max(cut, 0)] or "/", data_root[cut + 1 :]
    return input_base, f"{templated}/{glob_tail}"


def resolved_root(input_base: str, pattern: str, group_folder_level: int | None) -> str:
    """The folder that holds the class folders, once the driver has filled in the span."""
    parts = pattern.split("/")[: -file_depth(group_folder_level)]
    return "/".join([input_base.rstrip("/"), *parts]) if parts else input_base.rstrip("/")


def relative_path(root: str, path: str) -> str:
    """Path of a file below the root, with `/` separators."""
    return path[len(root.rstrip("/")) + 1 :].replace("\\", "/")


def label_of(relative: str) -> str:
    """Class label: the first folder, in Unicode NFC (macOS writes `Ñ` decomposed)."""
    return unicodedata.normalize("NFC", relative.split("/")[0])
