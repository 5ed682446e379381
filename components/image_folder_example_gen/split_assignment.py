"""Decide which split each image (or group of images) goes to, stably and by quota."""

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence


def stable_rank_key(seed: str, key: str) -> str:
    """Hash that orders items the same way on every run and every worker."""
    return hashlib.sha256(f"{seed}\x00{key}".encode()).hexdigest()


def quota_boundaries(weights: Sequence[int], total: int) -> list[int]:
    """Cumulative item counts per split, rounded so that they add up to total exactly."""
    weight_sum = sum(weights)
    bounds, running = [], 0
    for weight in weights:
        running += weight
        bounds.append(round(total * running / weight_sum))
    return bounds


def stratified_assignment(
    keys: Iterable[str], split_names: Sequence[str], weights: Sequence[int], seed: str
) -> dict[str, str]:
    """Split one label's items by quota, in the order of their stable hash."""
    ordered = sorted(set(keys), key=lambda key: stable_rank_key(seed, key))
    bounds = quota_boundaries(weights, len(ordered))
    assignment, split_index = {}, 0
    for rank, key in enumerate(ordered):
        while rank >= bounds[split_index]:
            split_index += 1
        assignment[key] = split_names[split_index]
    return assignment


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
    for left, group in zip(range(len(free), 0, -1), free):
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
