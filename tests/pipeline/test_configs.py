"""The run configuration: defaults run, files load, bad values are named."""

import json
import os

import pytest

from signpipe.errors import ConfigError
from signpipe.pipeline.configs import load_config


def test_defaults_are_valid_and_use_demo_data():
    config = load_config()
    assert config.uses_demo_data
    assert config.data_root.endswith("demo_data")
    assert config.pipeline_root.startswith(config.home)
    assert config.beam_args == []  # TFX builds no sdist for workers that are this process


def test_json_and_yaml_files_and_overrides(tmp_path):
    json_file = tmp_path / "run.json"
    json_file.write_text(json.dumps({"data": {"group_regex": "^(s\\d+)_"}, "home": "h"}))
    config = load_config(str(json_file), **{"data.data_root": "/imgs", "home": None})
    assert (config.data.group_regex, config.data.data_root, config.home) == (
        "^(s\\d+)_",
        "/imgs",
        os.path.abspath("h"),  # ML Metadata keeps artifact paths as given: made absolute
    )
    assert load_config(None, **{"data.data_root": "gs://b/lse"}).data_root == "gs://b/lse"
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text("validation:\n  max_class_imbalance: 3\n")
    assert load_config(str(yaml_file)).validation.max_class_imbalance == 3


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"data": {"split_ratios": {"train": 1}}}, "needs the split"),
        ({"data": {"split_ratios": {"train": 1, "eval": 0}}}, "above 0"),
        ({"data": {"bogus": 1}}, r"data\.bogus"),
        ({"pipeline_name": "Bad Name"}, "pipeline_name"),
        ({"data": {"group_regex": "("}}, "not a regex"),
        ({"data": {"group_regex": "a", "group_folder_level": 1}}, "not both"),
        ({"data": {"pinned_groups": {"g": "holdout"}}}, "unknown split"),
        ({"validation": {"schema_path": "/nope.pbtxt"}}, "signpipe schema"),
        ({"training": {"landmark_turn": 1.5}}, r"training\.landmark_turn must be between"),
        ({"training": {"landmark_jitter": 0.5}}, r"training\.landmark_jitter must be between"),
        ({"training": {"augmentation": -1}}, r"training\.augmentation must be between 0 and 4"),
    ],
)
def test_bad_values_are_named(tmp_path, values, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(values))
    with pytest.raises(ConfigError, match=message):
        load_config(str(path))


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(str(tmp_path / "missing.json"))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(str(broken))
