"""Runs a compiled Kubeflow PipelineSpec here: each task's own container command, as a subprocess.

A test harness that proves the spec, not a scheduler: each task runs once its upstream tasks
are done, with the task's `command` and `args` resolved into a KFP v2 `ExecutorInput` by kfp's
own `kfp.local` code, local artifact URIs, outputs handed on as the next tasks' inputs, and
run-time parameters from the caller. Like open-source KFP's v2 back-end it runs container
executors only and no lifecycle hooks (ExampleGen's pre-cache driver).
"""

import concurrent.futures
import dataclasses
import graphlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format
from kfp.local import executor_input_utils, placeholder_utils
from kfp.pipeline_spec import pipeline_spec_pb2


class TaskFailed(AssertionError):
    """A task's command exited non-zero; the message ends with its log's tail."""


@dataclasses.dataclass
class SpecRun:
    """What one run of a spec did: the tasks in the order they ran, and their outputs."""

    root: Path
    tasks: list[str] = dataclasses.field(default_factory=list)
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    outputs: dict[str, dict[str, list[pipeline_spec_pb2.RuntimeArtifact]]] = dataclasses.field(
        default_factory=dict
    )

    def uri(self, task: str, key: str) -> str:
        """The URI of a task's single output artifact."""
        (artifact,) = self.outputs[task][key]
        return artifact.uri

    def metadata(self, task: str, key: str) -> dict[str, Any]:
        """The metadata (TFX custom properties) the task's executor wrote for an output."""
        (artifact,) = self.outputs[task][key]
        return json_format.MessageToDict(artifact.metadata)


def load_spec(path: str | os.PathLike) -> pipeline_spec_pb2.PipelineSpec:
    """A PipelineSpec from a compiled YAML spec or a PipelineJob JSON."""
    document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    document = document.get("pipelineSpec", document)
    return json_format.ParseDict(document, pipeline_spec_pb2.PipelineSpec())


def _python_value(value) -> Any:
    return json_format.MessageToDict(value)


def run_parameters(
    spec: pipeline_spec_pb2.PipelineSpec, overrides: dict[str, Any]
) -> dict[str, Any]:
    """The pipeline's run-time parameters: each default, replaced by any override."""
    definitions = spec.root.input_definitions.parameters
    unknown = set(overrides) - set(definitions)
    if unknown:
        raise ValueError(f"unknown parameters {sorted(unknown)}; known {list(definitions)}")
    values = {
        name: _python_value(definition.default_value)
        for name, definition in definitions.items()
        if definition.HasField("default_value")
    }
    return {**values, **overrides}


def _task_arguments(task: pipeline_spec_pb2.PipelineTaskSpec, parameters: dict) -> dict[str, Any]:
    arguments = {}
    for name, source in task.inputs.parameters.items():
        kind = source.WhichOneof("kind")
        if kind == "runtime_value":
            arguments[name] = _python_value(source.runtime_value.constant)
        elif kind == "component_input_parameter":
            arguments[name] = parameters[source.component_input_parameter]
        else:
            raise NotImplementedError(f"task {task.task_info.name}: parameter {name} is {kind}")
    return arguments


def _executor_input(
    component: pipeline_spec_pb2.ComponentSpec,
    task: pipeline_spec_pb2.PipelineTaskSpec,
    arguments: dict[str, Any],
    task_root: str,
    produced: dict[str, dict[str, list]],
) -> pipeline_spec_pb2.ExecutorInput:
    # kfp.local builds executor inputs for single components only, so without input
    # artifacts; the upstream outputs are filled in here.
    outputs_only = pipeline_spec_pb2.ComponentSpec()
    outputs_only.CopyFrom(component)
    outputs_only.input_definitions.ClearField("artifacts")
    executor_input = executor_input_utils.construct_executor_input(
        outputs_only, arguments, task_root
    )
    for key, source in task.inputs.artifacts.items():
        upstream = source.task_output_artifact
        executor_input.inputs.artifacts[key].artifacts.extend(
            produced[upstream.producer_task][upstream.output_artifact_key]
        )
    for key, artifacts in executor_input.outputs.artifacts.items():
        # KFP names every artifact uniquely; TFX hashes the name into the artifact's id.
        artifacts.artifacts[0].name = f"{task_root}/{key}"
        # As KFP's launcher does (prepareOutputFolders): the folder above each output.
        os.makedirs(os.path.dirname(artifacts.artifacts[0].uri), exist_ok=True)
    return executor_input


def _outputs(
    executor_input: pipeline_spec_pb2.ExecutorInput,
) -> dict[str, list[pipeline_spec_pb2.RuntimeArtifact]]:
    """Output artifacts with what the executor wrote of them (metadata), as KFP records them."""
    written = pipeline_spec_pb2.ExecutorOutput()
    output_file = Path(executor_input.outputs.output_file)
    if output_file.exists():
        json_format.Parse(output_file.read_text(encoding="utf-8"), written)
    outputs = {}
    for key, declared in executor_input.outputs.artifacts.items():
        artifacts = []
        for index, artifact in enumerate(declared.artifacts):
            merged = pipeline_spec_pb2.RuntimeArtifact()
            merged.CopyFrom(artifact)
            if key in written.artifacts and index < len(written.artifacts[key].artifacts):
                merged.metadata.CopyFrom(written.artifacts[key].artifacts[index].metadata)
            artifacts.append(merged)
        outputs[key] = artifacts
    return outputs


def _command(spec, name: str, values: dict, run: "SpecRun", run_name: str, pipeline_root: str):
    """The task's resolved command, and its ExecutorInput (to read its outputs back)."""
    task = spec.root.dag.tasks[name]
    if task.trigger_policy.condition or task.WhichOneof("iterator"):
        raise NotImplementedError(f"task {name}: conditions and loops are not run here")
    component = spec.components[task.component_ref.name]
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    container = executors[component.executor_label]["container"]
    executor_input = _executor_input(
        component, task, _task_arguments(task, values), str(run.root / name), run.outputs
    )
    command = placeholder_utils.replace_placeholders(
        full_command=[*container.get("command", []), *container.get("args", [])],
        executor_input_dict=executor_input_utils.executor_input_to_dict(executor_input, component),
        pipeline_resource_name=f"{spec.pipeline_info.name}-{run_name}",
        task_resource_name=name,
        pipeline_root=pipeline_root,
    )
    return command, executor_input


def _execute(command: list[str], log: Path, environment: dict[str, str]) -> tuple[int, float]:
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        code = subprocess.run(
            command, stdout=out, stderr=subprocess.STDOUT, env=environment, check=False
        ).returncode
    return code, round(time.monotonic() - started, 1)


def run_spec(
    spec_path: str | os.PathLike,
    pipeline_root: str | os.PathLike,
    parameters: dict[str, Any] | None = None,
    run_name: str = "run-1",
    env: dict[str, str] | None = None,
    parallel: int = 2,
) -> SpecRun:
    """Run every task of a compiled spec once its upstream tasks are done, up to `parallel`
    at a time (as KFP runs independent tasks together); raise TaskFailed on a failure."""
    spec = load_spec(spec_path)
    values = run_parameters(spec, parameters or {})
    run = SpecRun(root=Path(pipeline_root) / run_name)
    (run.root / "logs").mkdir(parents=True, exist_ok=True)
    # `python` in a task's command is the image's interpreter: here, the project's.
    environment = {**os.environ, **(env or {})}
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}"
    order = graphlib.TopologicalSorter(
        {name: set(task.dependent_tasks) for name, task in spec.root.dag.tasks.items()}
    )
    order.prepare()
    running: dict[concurrent.futures.Future, tuple[str, Any, Path]] = {}
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        while order.is_active():
            for name in order.get_ready():
                command, executor_input = _command(
                    spec, name, values, run, run_name, str(pipeline_root)
                )
                log = run.root / "logs" / f"{name}.log"
                future = pool.submit(_execute, command, log, environment)
                running[future] = (name, executor_input, log)
            done, _ = concurrent.futures.wait(
                running, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in done:
                name, executor_input, log = running.pop(future)
                code, run.seconds[name] = future.result()
                if code:
                    concurrent.futures.wait(running)
                    tail = "".join(log.read_text(encoding="utf-8").splitlines(True)[-40:])
                    raise TaskFailed(f"task {name} exited {code}; the end of {log}:\n{tail}")
                run.tasks.append(name)
                run.outputs[name] = _outputs(executor_input)
                order.done(name)
    summary = {"parameters": values, "tasks": run.tasks, "seconds": run.seconds}
    (run.root / "run.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return run


def _cli_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main() -> None:
    """`python -m tests.compiled_spec_runner SPEC ROOT [name=value ...]`: run a spec here."""
    spec_path, root, *pairs = sys.argv[1:]
    parameters = {name: _cli_value(value) for name, _, value in (p.partition("=") for p in pairs)}
    run = run_spec(spec_path, root, parameters)
    for name in run.tasks:
        print(f"{name}: {run.seconds[name]} s")


if __name__ == "__main__":
    main()
