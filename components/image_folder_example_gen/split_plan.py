"""Which split each image goes to: by image, by group, with held-out test groups, or in folds."""

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from signpipe.components.image_folder_example_gen import split_assignment
from signpipe.components.split_names import EVAL, TEST, TRAIN, fold_name, fold_split


@dataclasses.dataclass(frozen=True)
class SplitRules:
    """How to split: split names and weights, and which mode decides by group."""

    split_names: tuple[str, ...]
    weights: tuple[int, ...]
    seed: str
    grouped: bool = False  # whole groups per split (not with test_groups or folds)
    pinned_groups: Mapping[str, str] = dataclasses.field(default_factory=dict)
    test_groups: tuple[str, ...] = ()  # these groups, whole, are the test split
    train_eval_by_group: bool = False  # with test_groups: the rest split by group too
    folds: int = 0  # above 0: groups into this many folds, each split train/eval by image

    def weight(self, split: str) -> int:
        """The weight of one split name (a fold's part takes the train or eval weight)."""
        return self.weights[self.split_names.index(split)]


@dataclasses.dataclass
class SplitPlan:
    """The split of every image key, and the groups each split (or fold) holds."""

    splits: dict[str, str]
    groups: dict[str, list[str]]  # split or fold name -> sorted groups in it
    unknown_test_groups: list[str] = dataclasses.field(default_factory=list)


Item = tuple[str, str, str]  # (image key, label, group)


def plan_splits(items: Iterable[Item], rules: SplitRules) -> SplitPlan:
    """Assign every image to a split under the rules; stable for the same images and seed."""
    items = sorted(items)
    if rules.folds:
        return _folds(items, rules)
    if rules.test_groups:
        return _held_out_test(items, rules)
    if rules.grouped:
        sizes = _sizes(items)
        by_group = split_assignment.group_assignment(
            sizes, rules.split_names, rules.weights, rules.seed, rules.pinned_groups
        )
        return _plan({key: by_group[group] for key, _, group in items}, items)
    return _plan(_stratified(items, rules.split_names, rules.weights, rules.seed), items)


def _held_out_test(items: list[Item], rules: SplitRules) -> SplitPlan:
    found = {group for _, _, group in items}
    unknown = sorted(set(rules.test_groups) - found)
    held_out = [item for item in items if item[2] in rules.test_groups]
    rest = [item for item in items if item[2] not in rules.test_groups]
    names = (TRAIN, EVAL)
    weights = tuple(rules.weight(name) for name in names)
    if rules.train_eval_by_group:
        by_group = split_assignment.group_assignment(_sizes(rest), names, weights, rules.seed)
        splits = {key: by_group[group] for key, _, group in rest}
    else:
        splits = _stratified(rest, names, weights, rules.seed)
    splits.update({key: TEST for key, _, _ in held_out})
    plan = _plan(splits, items)
    plan.unknown_test_groups = unknown
    return plan


def _folds(items: list[Item], rules: SplitRules) -> SplitPlan:
    sizes = _sizes(items)
    folds = [fold_name(i) for i in range(rules.folds)]
    fold_of = split_assignment.group_assignment(sizes, folds, [1] * rules.folds, rules.seed)
    weights = (rules.weight(fold_split(folds[0], TRAIN)), rules.weight(fold_split(folds[0], EVAL)))
    splits = {}
    for fold in folds:
        members = [item for item in items if fold_of[item[2]] == fold]
        names = (fold_split(fold, TRAIN), fold_split(fold, EVAL))
        splits.update(_stratified(members, names, weights, rules.seed))
    groups = defaultdict(list)
    for group, fold in sorted(fold_of.items()):
        groups[fold].append(group)
    return SplitPlan(splits=splits, groups={fold: groups[fold] for fold in folds})


def _stratified(
    items: Sequence[Item], names: Sequence[str], weights: Sequence[int], seed: str
) -> dict[str, str]:
    """Each label's images into the splits by its exact quota, in stable hash order."""
    keys_by_label = defaultdict(list)
    for key, label, _ in items:
        keys_by_label[label].append(key)
    allocation = split_assignment.allocate_quotas(
        {label: len(keys) for label, keys in keys_by_label.items()}, weights, seed
    )
    splits = {}
    for label, keys in keys_by_label.items():
        splits.update(split_assignment.stratified_assignment(keys, names, allocation[label], seed))
    return splits


def _sizes(items: Iterable[Item]) -> dict[str, int]:
    sizes = defaultdict(int)
    for _, _, group in items:
        sizes[group] += 1
    return dict(sizes)


def _plan(splits: dict[str, str], items: Iterable[Item]) -> SplitPlan:
    groups = defaultdict(set)
    for key, _, group in items:
        if group:
            groups[splits[key]].add(group)
    return SplitPlan(splits=splits, groups={name: sorted(g) for name, g in groups.items()})
