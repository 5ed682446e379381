"""`signpipe run --folds`: one model per fold of signers, measured on the signers it never saw."""

import json
import re

import pytest

from signpipe.cli import main
from signpipe.pipeline.configs import load_config
from signpipe.runs.fold_results import json_path
from signpipe.runs.history import list_runs, report_path
from tests.small_runs import LETTERS, SMALL_TRAINING, run_signpipe

pytestmark = pytest.mark.slow(minutes=3)  # an estimate, to start long groups first

SIGNERS = {"signer1", "signer2", "signer3", "signer4"}


def _nested(dotted: dict) -> dict:
    config: dict = {}
    for key, value in dotted.items():
        *parents, leaf = key.split(".")
        node = config
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return config


@pytest.fixture(scope="module")
def fold_run(images, tmp_path_factory):
    """A two-fold run of the shared small images through the CLI, head training only."""
    folder = tmp_path_factory.mktemp("folds")
    config_file = folder / "config.json"
    config_file.write_text(json.dumps(_nested({**SMALL_TRAINING, "training.finetune_epochs": 0})))
    home = folder / "home"
    result = run_signpipe(
        "run",
        "--config", str(config_file),
        "--home", str(home),
        "--data-root", str(images),
        "--group-regex", r"^(signer\d+)_",
        "--folds", "2",
        cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    config = load_config(str(config_file), home=str(home))
    return config, list_runs(config)[0], result.stdout


def test_each_fold_holds_out_whole_signers_and_is_measured_on_them(fold_run):
    config, run, stdout = fold_run
    with open(json_path(config, run.run_id), encoding="utf-8") as handle:
        results = json.load(handle)
    folds = results["folds"]
    assert [fold["fold"] for fold in folds] == ["fold1", "fold2"]
    held_out = [set(fold["held_out"]) for fold in folds]
    assert held_out[0] | held_out[1] == SIGNERS and not held_out[0] & held_out[1]
    assert sum(fold["images"] for fold in folds) == len(LETTERS) * 16
    accuracies = [fold["accuracy"] for fold in folds]
    assert all(0 <= accuracy <= 1 for accuracy in accuracies)
    assert results["mean_accuracy"] == pytest.approx(sum(accuracies) / 2)
    assert results["worst_accuracy"] == min(accuracies)
    assert set(results["class_recall"]) == set(LETTERS)
    for fold in folds:
        wrong = round((1 - fold["accuracy"]) * fold["images"])
        assert sum(mistake["images"] for mistake in fold["mistakes"]) == wrong
        assert all(m["true"] != m["predicted"] for m in fold["mistakes"])
    assert "Cross-validation (2 folds" in stdout and "pushes nothing" in stdout


def test_fold_models_train_on_the_other_folds_only_and_nothing_is_pushed(fold_run):
    _, run, _ = fold_run
    steps = {step.component for step in run.steps}
    assert {"Trainer_fold1", "Trainer_fold2", "Evaluator_fold1", "Evaluator_fold2"} <= steps
    assert not steps & {"Trainer", "Evaluator", "Pusher", "TFLiteExporter"}
    for fold, other in (("fold1", "fold2"), ("fold2", "fold1")):
        properties = run.step(f"Trainer_{fold}").properties
        assert re.findall(r"fold\d_\w+", str(properties["train_args"])) == [f"{other}_train"]
        assert re.findall(r"fold\d_\w+", str(properties["eval_args"])) == [f"{other}_eval"]
        evaluated = run.step(f"Evaluator_{fold}").properties["example_splits"]
        assert sorted(json.loads(evaluated)) == [f"{fold}_eval", f"{fold}_train"]


def test_report_and_history_show_the_folds(fold_run, capsys):
    config, run, _ = fold_run
    with open(report_path(config, run.run_id), encoding="utf-8") as page:
        html = page.read()
    assert 'id="cross_validation"' in html and "Recall per class and fold" in html
    assert "nothing is pushed" in html
    assert main(["runs", "list", "--home", config.home]) == 0
    assert re.search(r"COMPLETE\s+cv \d+%", capsys.readouterr().out)
    assert main(["runs", "show", run.run_id, "--home", config.home]) == 0
    shown = capsys.readouterr().out
    assert "fold1   held out" in shown and "mean" in shown
