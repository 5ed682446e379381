"""The compiled open-source KFP pipeline, run here task by task through each task's own
command (tests/compiled_spec_runner.py), twice: the second run is judged against the first."""

import json
from pathlib import Path

import pytest

from signpipe.components import model_directory
from signpipe.components.artifacts import (
    BASELINE_FOUND_PROPERTY,
    BASELINE_LOCATION_PROPERTY,
    BASELINE_SOURCE_PROPERTY,
)
from signpipe.components.latest_blessed_model import executor as baseline_step
from signpipe.components.serving_pusher.model_card import CARD_JSON
from signpipe.models.model import HISTORY_FILE
from signpipe.pipeline.kubeflow_v2_runner import compile_pipeline
from tests.compiled_spec_runner import load_spec, run_spec
from tests.small_runs import small_config

pytestmark = pytest.mark.slow(minutes=8)  # an estimate, to start long groups first

# Away from the compiled defaults (10 head epochs, float32 and int8), to see them arrive.
PARAMETERS = {"head_epochs": 3, "tflite_variants": "float32"}


@pytest.fixture(scope="module")
def compiled(images, tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("kfp")
    config = small_config(folder / "home", images, **{"tflite.variants": ["float32", "int8"]})
    spec = compile_pipeline(config, "signpipe:test", str(folder / "root"), str(folder / "p.yaml"))
    return Path(spec), folder / "root"


@pytest.fixture(scope="module")
def runs(compiled, monkeypatch_module):
    spec, root = compiled
    # No ML Metadata service here: the baseline step falls back to the serving root.
    monkeypatch_module.delenv(baseline_step.HOST_VARIABLE, raising=False)
    first = run_spec(spec, root, PARAMETERS, run_name="run-1")
    second = run_spec(spec, root, PARAMETERS, run_name="run-2")
    return first, second


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _card(run) -> dict:
    pushed = run.metadata("Pusher", "pushed_model")
    return json.loads((Path(pushed["pushed_destination"]) / CARD_JSON).read_text())


def test_every_task_ran_after_the_tasks_it_depends_on(compiled, runs):
    tasks = load_spec(compiled[0]).root.dag.tasks
    for run in runs:
        assert sorted(run.tasks) == sorted(tasks)
        for name, task in tasks.items():
            assert all(run.tasks.index(up) < run.tasks.index(name) for up in task.dependent_tasks)


def test_run_time_parameters_reach_their_steps(runs):
    first, _ = runs
    model = Path(first.uri("Trainer", "model")) / "Format-Serving"
    history = json.loads((model / HISTORY_FILE).read_text())
    assert history["options"]["head_epochs"] == 3
    exported = first.metadata("TFLiteExporter", "tflite_models")
    assert exported["blessed_variants"] == "float32"
    assert sorted(
        p.name for p in Path(first.uri("TFLiteExporter", "tflite_models")).glob("*.tflite")
    ) == ["float32.tflite"]


def test_the_first_run_pushes_on_the_floor_alone(runs, compiled):
    first, _ = runs
    assert first.metadata("LatestBlessedModel", "model")[BASELINE_FOUND_PROPERTY] == 0
    blessing = first.metadata("Evaluator", "blessing")
    assert blessing["blessed"] == 1 and "baseline_model" not in blessing
    assert first.metadata("Pusher", "pushed_model")["pushed"] == 1
    assert _card(first)["blessing"]["baseline_model"] is None


def test_the_second_run_is_judged_against_the_first_pushed_model(runs, compiled):
    first, second = runs
    found = second.metadata("LatestBlessedModel", "model")
    assert found[BASELINE_FOUND_PROPERTY] == 1
    assert found[BASELINE_SOURCE_PROPERTY] == baseline_step.SERVING_ROOT_SOURCE
    assert (
        found[BASELINE_LOCATION_PROPERTY]
        == first.metadata("Pusher", "pushed_model")["pushed_destination"]
    )
    blessing = second.metadata("Evaluator", "blessing")
    assert blessing["baseline_model"] == second.uri("LatestBlessedModel", "model")
    pushed = second.metadata("Pusher", "pushed_model")["pushed"]
    assert pushed == blessing["blessed"]
    push_root = Path(found[BASELINE_LOCATION_PROPERTY]).parent
    assert len(model_directory.versions(str(push_root))) == 1 + pushed
    if pushed:
        assert _card(second)["blessing"]["baseline_found_in"] == (
            f"{baseline_step.SERVING_ROOT_SOURCE}: {found[BASELINE_LOCATION_PROPERTY]}"
        )
