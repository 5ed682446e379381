"""Decide which split each image (or group of images) goes to, stably and by quota."""

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence


def stable_rank_key(seed: str, key: str) -> str:
    """Hash that orders items the same way on every run and every worker."""
    return hashlib.sha256(f"{seed}\x00{key}".encode()).hexdigest()


def allocate_quotas(
    label_sizes: Mapping[str, int], weights: Sequence[int], seed: str
) -> dict[str, list[int]]:
    """Images per split for every label: its exact share rounded so split totals stay on target.

    Each label gets the floor of its share per split; its leftover images go, one at a
    time, to the split furthest below its target over all labels. So small classes still
    reach every split, and each label is within one image of its exact share.
    """
    weight_sum = sum(weights)
    total = sum(label_sizes.values())
    targets = [total * w / weight_sum for w in weights]
    allocation = {
        label: [int(size * w // weight_sum) for w in weights] for label, size in label_sizes.items()
    }
    filled = [sum(counts[i] for counts in allocation.values()) for i in range(len(weights))]
    for label in sorted(label_sizes, key=lambda label: stable_rank_key(seed, label)):
        counts = allocation[label]
        for _ in range(label_sizes[label] - sum(counts)):
            index = max(range(len(weights)), key=lambda i: targets[i] - filled[i])
            counts[index] += 1
            filled[index] += 1
    return allocation


def stratified_assignment(
    keys: Iterable[str], split_names: Sequence[str], counts: Sequence[int], seed: str
) -> dict[str, str]:
    """Split one label's items into the given counts per split, in their stable hash order."""
    ordered = sorted(set(keys), key=lambda key: stable_rank_key(seed, key))
    names = [name for name, count in zip(split_names, counts, strict=True) for _ in range(count)]
    return dict(zip(ordered, names, strict=True))


def group_assignment(
    group_sizes: Mapping[str, int],
    split_names: Sequence[str],
    weights: Sequence[int],
    seed: str,
    pinned: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Put whole groups into splits, largest first, each into the split furthest below quota.

    While the groups left are only just enough to give every still-empty split one group,
    they go to the empty splits, so a split with a ratio above 0 is empty only when there
    are fewer groups than splits.
    """
    total = sum(group_sizes.values())
    weight_sum = sum(weights)
    targets = {name: total * w / weight_sum for name, w in zip(split_names, weights, strict=True)}
    filled = dict.fromkeys(split_names, 0)
    assignment = {}
    for group, split in (pinned or {}).items():
        if group in group_sizes:
            assignment[group] = split
            filled[split] += group_sizes[group]
    free = [g for g in group_sizes if g not in assignment]
    free.sort(key=lambda g: (-group_sizes[g], stable_rank_key(seed, g)))
    for left, group in zip(range(len(free), 0, -1), free, strict=True):
        empty = [name for name in split_names if targets[name] > 0 and filled[name] == 0]
        candidates = empty if 0 < left <= len(empty) else split_names
        split = max(candidates, key=lambda name: targets[name] - filled[name])
        assignment[group] = split
        filled[split] += group_sizes[group]
    return assignment


def group_key(relative_path: str, regex: re.Pattern | None, folder_level: int | None) -> str:
    """Group key of an image path relative to the data root (`<label>/.../<file>`)."""
    parts = relative_path.split("/")
    if folder_level is not None:
        # parts[0] is the label folder; level 1 is the first folder below it.
        if folder_level >= len(parts) - 1:
            raise ValueError(f"has no sub-folder at level {folder_level} below its class folder")
        return parts[folder_level]
    if regex is not None:
        match = regex.search(parts[-1])
        if match is None:
            raise ValueError(f"file name does not match the group pattern '{regex.pattern}'")
        return match.group(1) if match.groups() else match.group(0)
    return ""
