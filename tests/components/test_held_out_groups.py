"""Held-out test groups and cross-validation folds: where each image goes, and the errors."""

import itertools
import random

import pytest

from signpipe.components.image_folder_example_gen.split_plan import SplitRules, plan_splits
from signpipe.components.split_names import fold_split_names
from signpipe.errors import ConfigError
from signpipe.pipeline.configs import load_config
from signpipe.pipeline.cross_validation import fold_splits

GROUP_SIZES = {"g1": 40, "g2": 30, "g3": 30, "g4": 20, "g5": 10}
LABELS = ("A", "B", "C")
RATIOS = (700, 150)  # train, eval


def _items(sizes=GROUP_SIZES) -> list[tuple[str, str, str]]:
    return [
        (f"{group}-{i}", LABELS[i % len(LABELS)], group)
        for group, size in sizes.items()
        for i in range(size)
    ]


def _splits_of_groups(items, splits: dict[str, str]) -> dict[str, set[str]]:
    found = {}
    for key, _, group in items:
        found.setdefault(group, set()).add(splits[key])
    return found


def test_test_groups_are_the_whole_test_split_and_never_reach_train_or_eval():
    items = _items()
    rules = SplitRules(("train", "eval", "test"), (*RATIOS, 150), "s", test_groups=("g2", "g5"))
    plan = plan_splits(items, rules)
    by_group = _splits_of_groups(items, plan.splits)
    assert by_group["g2"] == by_group["g5"] == {"test"}
    for group in ("g1", "g3", "g4"):
        assert "test" not in by_group[group]
    # The rest is split by image, stratified: every label in both train and eval.
    for split in ("train", "eval"):
        labels = {label for key, label, _ in items if plan.splits[key] == split}
        assert labels == set(LABELS), split
    assert plan.groups["test"] == ["g2", "g5"]
    assert plan.unknown_test_groups == []


def test_train_eval_by_group_keeps_the_other_groups_whole():
    items = _items()
    rules = SplitRules(
        ("train", "eval", "test"),
        (*RATIOS, 150),
        "s",
        test_groups=("g5",),
        train_eval_by_group=True,
    )
    by_group = _splits_of_groups(items, plan_splits(items, rules).splits)
    assert all(len(splits) == 1 for splits in by_group.values())
    assert {"train", "eval"} <= set().union(*by_group.values())


def test_an_unknown_test_group_is_named():
    rules = SplitRules(("train", "eval", "test"), (*RATIOS, 1), "s", test_groups=("g9", "g1"))
    assert plan_splits(_items(), rules).unknown_test_groups == ["g9"]


@pytest.mark.parametrize("folds", [2, 3, 5])
def test_folds_cover_every_image_exactly_once(folds):
    items = _items()
    names = fold_split_names(folds)
    rules = SplitRules(tuple(names), RATIOS * folds, "s", folds=folds)
    plan = plan_splits(items, rules)
    assert set(plan.splits) == {key for key, _, _ in items}
    assert set(plan.splits.values()) == set(names)
    # Whole groups per fold, every group in exactly one fold.
    grouped = [group for groups in plan.groups.values() for group in groups]
    assert sorted(grouped) == sorted(GROUP_SIZES)
    fold_of = {group: fold for fold, groups in plan.groups.items() for group in groups}
    for key, _, group in items:
        assert plan.splits[key].startswith(f"{fold_of[group]}_")
    # Across the branches each split is tested once, and never trains its own model.
    tested = []
    for held_out in range(folds):
        parts = fold_splits(folds, held_out)
        assert not set(parts["test"]) & (set(parts["train"]) | set(parts["eval"]))
        assert sorted(itertools.chain(*parts.values())) == sorted(names)
        tested += parts["test"]
    assert sorted(tested) == sorted(names)


def test_leave_one_out_gives_each_group_its_own_fold_whatever_its_size():
    plan = plan_splits(_items(), SplitRules(tuple(fold_split_names(5)), RATIOS * 5, "s", folds=5))
    assert sorted(len(groups) for groups in plan.groups.values()) == [1] * 5


def test_plans_do_not_depend_on_the_order_images_arrive_in():
    items = _items()
    rules = SplitRules(tuple(fold_split_names(3)), RATIOS * 3, "s", folds=3)
    shuffled = items[:]
    random.Random(3).shuffle(shuffled)
    assert plan_splits(items, rules).splits == plan_splits(shuffled, rules).splits


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"data.test_groups": ["hand5"]}, "needs a group key"),
        ({"data.folds": 3}, "needs a group key"),
        ({"data.folds": 1, "data.group_regex": "^(h)"}, "2 or more"),
        ({"data.folds": "all", "data.group_regex": "^(h)"}, "'loo'"),
        (
            {"data.folds": 3, "data.test_groups": ["a"], "data.group_regex": "^(h)"},
            "not both",
        ),
        (
            {
                "data.test_groups": ["a"],
                "data.pinned_groups": {"b": "eval"},
                "data.group_regex": "x",
            },
            "not both",
        ),
        ({"data.train_eval_by_group": True}, "applies with data.test_groups"),
    ],
)
def test_bad_held_out_settings_are_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, **overrides)


def test_a_fold_count_given_as_text_is_a_number():
    config = load_config(None, **{"data.folds": "4", "data.group_regex": "^(h)"})
    assert config.data.folds == 4
