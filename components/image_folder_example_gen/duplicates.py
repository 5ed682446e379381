"""Which of a set of identical files (same content hash) ExampleGen keeps."""

import dataclasses
from collections.abc import Iterable

from signpipe.components.image_folder_example_gen.read_images import Image


@dataclasses.dataclass(frozen=True)
class CopyChoice:
    """The copy kept, the files quarantined and the duplicates dropped, for one content hash."""

    kept: Image | None  # None: the copies sit under two or more labels
    quarantined: list[dict[str, str]]  # {"path", "reason"}
    duplicates: dict | None  # {"kept": path, "dropped": [paths]} when copies were dropped


def keep_one_copy(copies: Iterable[Image]) -> CopyChoice:
    """Keep the first of identical files; identical files under two labels are all left out."""
    copies = sorted(copies, key=lambda image: image.path)
    labels = sorted({image.label for image in copies})
    if len(labels) > 1:
        reason = (
            f"same content in classes {labels}: the label is ambiguous; "
            "keep the file in one class folder only"
        )
        return CopyChoice(None, [{"path": image.path, "reason": reason} for image in copies], None)
    duplicates = None
    if len(copies) > 1:
        duplicates = {"kept": copies[0].path, "dropped": [image.path for image in copies[1:]]}
    return CopyChoice(copies[0], [], duplicates)
