"""Split decisions: exact per-label quotas, stability, whole groups, and path layout."""

import random
import re

import pytest

from signpipe.components.image_folder_example_gen import folder_layout
from signpipe.components.image_folder_example_gen.split_assignment import (
    allocate_quotas,
    group_assignment,
    group_key,
    stratified_assignment,
)

SPLITS = ("train", "eval", "test")
WEIGHTS = (700, 150, 150)


@pytest.mark.parametrize("sizes", [{"A": 4, "B": 4}, {"A": 70, "B": 65, "C": 70}, {"A": 1}])
def test_allocation_covers_every_item_and_stays_near_each_share(sizes):
    allocation = allocate_quotas(sizes, WEIGHTS, seed="s")
    for label, counts in allocation.items():
        assert sum(counts) == sizes[label]
        for count, weight in zip(counts, WEIGHTS, strict=True):
            assert abs(count - sizes[label] * weight / sum(WEIGHTS)) < 1


def test_small_classes_still_reach_every_split():
    allocation = allocate_quotas({"A": 4, "B": 4}, WEIGHTS, seed="s")
    totals = [sum(counts[i] for counts in allocation.values()) for i in range(3)]
    assert totals == [6, 1, 1]


def test_stratified_assignment_meets_counts_and_ignores_input_order():
    keys = [f"hash{i}" for i in range(40)]
    first = stratified_assignment(keys, SPLITS, [28, 6, 6], seed="s")
    shuffled = keys[:]
    random.Random(1).shuffle(shuffled)
    assert stratified_assignment(shuffled, SPLITS, [28, 6, 6], seed="s") == first
    counts = {name: list(first.values()).count(name) for name in SPLITS}
    assert counts == {"train": 28, "eval": 6, "test": 6}


def test_stratified_assignment_moves_few_items_when_one_is_added():
    keys = [f"hash{i}" for i in range(100)]
    before = stratified_assignment(keys, SPLITS, [70, 15, 15], seed="s")
    after = stratified_assignment([*keys, "new"], SPLITS, [71, 15, 15], seed="s")
    moved = [k for k in keys if before[k] != after[k]]
    assert len(moved) <= 2


def test_seed_changes_the_assignment():
    keys = [f"hash{i}" for i in range(50)]
    assert stratified_assignment(keys, SPLITS, [35, 8, 7], "a") != stratified_assignment(
        keys, SPLITS, [35, 8, 7], "b"
    )


def test_group_assignment_keeps_groups_whole_and_fills_every_split():
    # The real shape of the ASL set: two large, one middle and two small signers.
    sizes = {"hand1": 900, "hand2": 900, "hand3": 180, "hand4": 180, "hand5": 360}
    assignment = group_assignment(sizes, SPLITS, WEIGHTS, seed="s")
    assert set(assignment) == set(sizes)
    filled = {name: sum(sizes[g] for g, s in assignment.items() if s == name) for name in SPLITS}
    assert all(filled[name] > 0 for name in SPLITS)
    assert filled["train"] > filled["eval"] and filled["train"] > filled["test"]


def test_group_assignment_with_equal_groups_still_fills_every_split():
    assignment = group_assignment({f"g{i}": 9 for i in range(4)}, SPLITS, WEIGHTS, seed="s")
    assert sorted(assignment.values()).count("train") == 2
    assert {"eval", "test"} <= set(assignment.values())


def test_pinned_groups_go_where_pinned():
    sizes = {f"g{i}": 10 for i in range(6)}
    assignment = group_assignment(sizes, SPLITS, WEIGHTS, seed="s", pinned={"g3": "test"})
    assert [group for group, split in assignment.items() if split == "test"] == ["g3"]
    assert "eval" in assignment.values()


def test_group_key_from_file_name_and_sub_folder():
    regex = re.compile(r"^(hand\d+)_")
    assert group_key("A/hand3_a_bot_seg_1.jpeg", regex, None) == "hand3"
    assert group_key("A/session2/img.png", None, 1) == "session2"
    assert group_key("A/img.png", None, None) == ""
    with pytest.raises(ValueError, match="does not match the group pattern"):
        group_key("A/other.png", regex, None)
    with pytest.raises(ValueError, match="no sub-folder at level 1"):
        group_key("A/img.png", None, 1)


@pytest.mark.parametrize(
    ("data_root", "level", "base", "pattern"),
    [
        ("/data/lse", None, "/data/lse", "*/*"),
        ("/data/lse/", 1, "/data/lse", "*/*/*"),
        ("/data/lse/span-{SPAN}", None, "/data/lse", "span-{SPAN}/*/*"),
        ("gs://b/{SPAN}/images", None, "gs://b", "{SPAN}/images/*/*"),
    ],
)
def test_data_root_to_tfx_input(data_root, level, base, pattern):
    assert folder_layout.split_data_root(data_root, level) == (base, pattern)


def test_resolved_root_and_label():
    assert folder_layout.resolved_root("/data/lse", "span-3/*/*", None) == "/data/lse/span-3"
    assert folder_layout.resolved_root("/data/lse", "*/*/*", 1) == "/data/lse"
    relative = folder_layout.relative_path("/data/lse", "/data/lse/N\u0303/x.png")
    assert folder_layout.label_of(relative) == "Ñ"
