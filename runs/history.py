"""Past runs of a pipeline home, read from its ML Metadata store."""

import dataclasses
import datetime
import json
import os
import re
from typing import Any

from ml_metadata.proto import metadata_store_pb2

from signpipe.components.artifacts import TFLiteModels
from signpipe.components.evaluation import evaluation_metrics
from signpipe.errors import ConfigError
from signpipe.pipeline import run_lock
from signpipe.pipeline.configs import PipelineConfig
from signpipe.runs.store import StepRecord, open_store, outputs_by_execution, step_record

REPORTS_FOLDER = "reports"
_DONE = {"COMPLETE", "CACHED"}
_ENDED = _DONE | {"FAILED", "CANCELED"}
_STATE_MARKS = {"COMPLETE": "+", "CACHED": "=", "FAILED": "X", "RUNNING": ">", "CANCELED": "-"}
INTERRUPTED = "INTERRUPTED"


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One pipeline run: when, how long, and what each step did."""

    run_id: str
    started: datetime.datetime
    seconds: float
    steps: list[StepRecord]
    in_progress: bool = False  # a process holds the home's run lock for this run

    @property
    def status(self) -> str:
        """FAILED if a step failed; RUNNING while the run's process holds the home's run
        lock; then COMPLETE if every step ended, INTERRUPTED if its process died first."""
        states = {step.state for step in self.steps}
        if "FAILED" in states:
            return "FAILED"
        if self.in_progress:
            return "RUNNING"
        return "COMPLETE" if states <= _DONE else INTERRUPTED

    @property
    def died_in(self) -> list[str]:
        """The steps that were running when the run's process died; [] unless INTERRUPTED."""
        if self.status != INTERRUPTED:
            return []
        return [step.component for step in self.steps if step.state not in _ENDED]

    def step(self, component: str) -> StepRecord | None:
        """The step of that component, if it ran in this run."""
        return next((s for s in self.steps if s.component == component), None)

    def output(self, component: str, key: str) -> metadata_store_pb2.Artifact | None:
        """One output artifact of a step, if the step produced it."""
        step = self.step(component)
        artifacts = step.outputs.get(key, []) if step else []
        return artifacts[0] if artifacts else None

    def accuracy(self, component: str) -> float | None:
        """Overall accuracy in an Evaluator's output (Evaluator: eval, TestEvaluator: test)."""
        evaluation = self.output(component, "evaluation")
        return evaluation_metrics(evaluation.uri)[0] if evaluation else None

    @property
    def blessed(self) -> bool | None:
        """Whether the Evaluator blessed the model; None if it did not run."""
        blessing = self.output("Evaluator", "blessing")
        if blessing is None:
            return None
        return blessing.custom_properties["blessed"].int_value == 1

    @property
    def model_id(self) -> int | None:
        """The id of the model artifact this run trained (or took from the cache)."""
        model = self.output("Trainer", "model")
        return model.id if model else None

    @property
    def pushed(self) -> tuple[str, str] | None:
        """(version, destination) if this run pushed a model."""
        pushed = self.output("Pusher", "pushed_model")
        if pushed is None or pushed.custom_properties["pushed"].int_value != 1:
            return None
        properties = pushed.custom_properties
        return properties["pushed_version"].string_value, properties[
            "pushed_destination"
        ].string_value

    def class_labels(self) -> list[str]:
        """Label strings by class index, from this run's transform graph; [] without one."""
        graph = self.output("Transform", "transform_graph")
        if graph is None:
            return []
        import tensorflow_transform as tft

        from signpipe.models.preprocessing import class_labels

        return class_labels(tft.TFTransformOutput(graph.uri))

    def tflite_report(self) -> dict | None:
        """The TFLite variants report (tflite_report.json), if this run exported any."""
        exported = self.output("TFLiteExporter", "tflite_models")
        if exported is None:
            return None
        with open(os.path.join(exported.uri, TFLiteModels.REPORT_JSON), encoding="utf-8") as handle:
            return json.load(handle)

    def marks(self) -> str:
        """One character per step in order: + done, = cached, X failed, > running, ! died."""
        died = self.died_in
        return "".join(
            "!" if step.component in died else _STATE_MARKS.get(step.state, "?")
            for step in self.steps
        )


def report_path(config: PipelineConfig, run_id: str) -> str:
    """Where a run's HTML report is written: <home>/reports/run-<run id>.html."""
    return os.path.join(
        config.home, REPORTS_FOLDER, f"run-{re.sub(r'[^0-9A-Za-z]+', '-', run_id)}.html"
    )


def list_runs(config: PipelineConfig) -> list[RunRecord]:
    """Every run of this pipeline in the store, newest first."""
    if not os.path.exists(config.metadata_path):
        return []
    live_since = _live_since(config.home)  # before the store: a run ending meanwhile is RUNNING
    store = open_store(config, read_only=True)
    nodes = {
        context.id: context.name.removeprefix(f"{config.pipeline_name}.")
        for context in store.get_contexts_by_type("node")
        if context.name.startswith(f"{config.pipeline_name}.")
    }
    records = [
        _record(store, run, nodes, live_since) for run in store.get_contexts_by_type("pipeline_run")
    ]
    return sorted((r for r in records if r.steps), key=lambda r: r.started, reverse=True)


def find_run(
    config: PipelineConfig, run_id: str | None = None, runs: list[RunRecord] | None = None
) -> RunRecord:
    """The run with that id (or a unique prefix of it); the newest run without one.

    `runs`: the history when the caller has already read it.
    """
    runs = list_runs(config) if runs is None else runs
    if not runs:
        raise ConfigError(f"no runs in {config.metadata_path}: run `signpipe run` first")
    if run_id is None:
        return runs[0]
    matches = [run for run in runs if run.run_id.startswith(run_id)]
    if len(matches) != 1:
        known = ", ".join(run.run_id for run in runs[:5])
        what = "matches no run" if not matches else f"matches {len(matches)} runs"
        raise ConfigError(f"run id '{run_id}' {what} in {config.home}; newest runs: {known}")
    return matches[0]


def _live_since(home: str) -> datetime.datetime | None:
    """When the run holding the home's run lock took it; None when no run holds it."""
    held = run_lock.holder(home)
    if held is None:
        return None
    if not held["started"]:  # taken a moment ago: any unended run may be the holder's
        return datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)
    return datetime.datetime.fromisoformat(held["started"])


def _record(
    store,
    context: metadata_store_pb2.Context,
    nodes: dict[int, str],
    live_since: datetime.datetime | None,
) -> RunRecord:
    """The run of one pipeline_run context, with the steps of this pipeline's nodes.

    A run is in progress when the home's lock is held by a run that took it before it began.
    """
    components = {}
    executions = []
    for execution in sorted(store.get_executions_by_context(context.id), key=lambda e: e.id):
        node = [c.id for c in store.get_contexts_by_execution(execution.id) if c.id in nodes]
        if node:
            components[execution.id] = nodes[node[0]]
            executions.append(execution)
    outputs = outputs_by_execution(store, [execution.id for execution in executions])
    steps = [
        step_record(execution, components[execution.id], context.name, outputs.get(execution.id))
        for execution in executions
    ]
    start = min((e.create_time_since_epoch for e in executions), default=0)
    end = max((e.last_update_time_since_epoch for e in executions), default=0)
    started = datetime.datetime.fromtimestamp(start / 1000.0, tz=datetime.timezone.utc)
    return RunRecord(
        run_id=context.name,
        started=started,
        seconds=(end - start) / 1000.0,
        steps=steps,
        in_progress=live_since is not None and started >= live_since,
    )


def property_differences(a: RunRecord, b: RunRecord) -> list[tuple[str, Any, Any]]:
    """(component.property, value in a, value in b) for every execution property that differs."""
    differences = []
    components = dict.fromkeys([s.component for s in a.steps] + [s.component for s in b.steps])
    for component in components:
        left, right = a.step(component), b.step(component)
        left_props = left.properties if left else {}
        right_props = right.properties if right else {}
        for key in sorted(set(left_props) | set(right_props)):
            if key in _VOLATILE:
                continue
            x, y = _expanded(left_props.get(key)), _expanded(right_props.get(key))
            if isinstance(x, dict) and isinstance(y, dict):
                for sub in sorted(set(x) | set(y)):
                    if x.get(sub) != y.get(sub):
                        differences.append((f"{component}.{key}.{sub}", x.get(sub), y.get(sub)))
            elif x != y:
                differences.append((f"{component}.{key}", x, y))
    return differences


# Bookkeeping that differs between any two runs, not configuration.
_VOLATILE = {"input_fingerprint", "module_path", "span", "version"}


def _expanded(value: Any) -> Any:
    """A JSON object held as text (custom_config, eval_config) as a dict, to compare keys."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
