"""Output names never collide: as much of each input's path as tells it apart."""

import os

from signpipe.inference.output_names import unique_names


def test_a_name_is_the_stem_alone_while_no_other_input_shares_it():
    assert unique_names(["O/r/0_r.jpg", "T/r/1_r.jpg"]) == {
        "O/r/0_r.jpg": "0_r",
        "T/r/1_r.jpg": "1_r",
    }


def test_same_named_files_in_different_folders_get_their_folders_until_they_differ():
    paths = ["O/r/0_r.jpg", "T/r/0_r.jpg", "T/0_r.jpg", "a/b.png", "c/b.png", "d.png"]
    names = unique_names(paths)
    assert names == {
        "O/r/0_r.jpg": "O__r__0_r",
        "T/r/0_r.jpg": "T__r__0_r",
        "T/0_r.jpg": "T__0_r",
        "a/b.png": "a__b",
        "c/b.png": "c__b",
        "d.png": "d",
    }


def test_the_extension_comes_in_when_only_it_differs_and_one_file_twice_is_one_name(tmp_path):
    jpeg, png = str(tmp_path / "A" / "0.jpg"), str(tmp_path / "A" / "0.png")
    names = unique_names([jpeg, png, jpeg, os.path.relpath(png)])
    assert names[jpeg].endswith("A__0_jpg") and names[png].endswith("A__0_png")
    assert names[os.path.relpath(png)] == names[png]


def test_a_stem_that_holds_the_separator_still_gets_a_name_of_its_own():
    paths = ["x/a__b.jpg", "a/b.jpg", "y/a__b.jpg", "x/a/b.jpg"]
    names = unique_names(paths)
    assert len(set(names.values())) == len(paths), names
