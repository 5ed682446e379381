"""The `signpipe` console command: help, and clear errors without tracebacks."""

import re

import pytest

from signpipe.cli import build_parser
from tests.pipeline_steps import DATA_STEPS
from tests.small_runs import run_signpipe

COMMANDS = (
    "run",
    "validate",
    "demo-data",
    "schema",
    "predict",
    "explain",
    "report",
    "runs",
    "compile",
    "schedule",
)


def test_help_lists_and_explains_every_command(tmp_path):
    result = run_signpipe("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout
        positional = {
            "validate": ["ROOT"],
            "predict": ["--tflite", "m.tflite", "x.png"],
            "explain": ["--model-dir", "m", "x.png"],
            "runs": ["list"],
            "compile": ["--image", "i", "--pipeline-root", "gs://b/r"],
            "schedule": ["--host", "http://h"],
        }
        sub = build_parser().parse_args([command, *positional.get(command, [])])
        assert callable(sub.func)


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_its_own_help(command, tmp_path):
    result = run_signpipe(command, "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "usage: signpipe " + command in result.stdout


def test_bad_config_is_a_one_line_error(tmp_path):
    (tmp_path / "bad.json").write_text('{"data": {"split_ratios": {"train": 1}}}')
    result = run_signpipe("run", "--config", "bad.json", cwd=tmp_path)
    assert result.returncode == 1
    assert "needs the split(s) ['eval']" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_split_option_is_named(tmp_path):
    result = run_signpipe("validate", "x", "--split", "train=a,eval=0.2", cwd=tmp_path)
    assert result.returncode == 1
    assert "--split ratios must be numbers" in result.stderr


def test_a_hand_threshold_outside_0_to_1_is_named_before_any_model_loads(tmp_path):
    result = run_signpipe(
        "predict", "--tflite", "m.tflite", "--hand-min-confidence", "1.5", "x.png", cwd=tmp_path
    )
    assert result.returncode == 1
    assert "--hand-min-confidence must be above 0 and at most 1; got 1.5" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_data_writes_the_synthetic_set(tmp_path):
    result = run_signpipe("demo-data", "--out", "d", "--images-per-class", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    folders = sorted(p.name for p in (tmp_path / "d").iterdir() if p.is_dir())
    assert folders == sorted(["A", "B", "C", "E", "L", "Ñ"])
    assert all(len(list((tmp_path / "d" / f).iterdir())) == 3 for f in folders)


def test_missing_data_root_fails_cleanly(tmp_path):
    result = run_signpipe(
        "validate",
        str(tmp_path / "nowhere"),
        "--home",
        "h",
        "--beam-arg=--direct_running_mode=in_memory",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "ImageFolderExampleGen: data root" in result.stderr
    assert "does not exist" in result.stderr and "nowhere" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_validate_prints_each_step_and_a_rerun_says_what_came_from_the_cache(tmp_path):
    made = run_signpipe("demo-data", "--out", "d", "--images-per-class", "8", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    options = ("validate", "d", "--home", "h", "--allow-anomalies")
    first = run_signpipe(*options, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    for step in DATA_STEPS:
        # Progress lines of the step (indented further) may sit between its two lines.
        assert re.search(rf"  {step} \.\.\.\n(    .*\n)*  {step} done in ", first.stdout)
    assert "Data validation report:" in first.stdout
    assert re.search(r"\n    ImageFolderExampleGen: \d+ images ingested, ", first.stdout)
    assert "\r" not in first.stdout  # not a terminal: no status line rewrites
    report = re.search(r"Run report: (\S+\.html)", first.stdout)
    assert report and (tmp_path / report[1]).is_file(), first.stdout

    second = run_signpipe(*options, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    for step in DATA_STEPS:
        assert f"  {step} reused from cache\n" in second.stdout, second.stdout
