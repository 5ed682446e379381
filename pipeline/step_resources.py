"""Each compiled step's pod limits (vCPUs, memory, accelerator), from `kubeflow.resources`.

They are written into the compiled spec's executors: TFX 1.16's Kubeflow V2 compiler drops
a component's platform config for file-based ExampleGens, ingestion among them.
"""

from collections.abc import Mapping
from typing import Any

from signpipe.errors import ConfigError

RESOURCE_KEYS = ("cpu", "memory_gb", "accelerator", "accelerator_count")
_EXECUTOR_SUFFIX = "_executor"


def container_resources(step: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The compiled `resources` of one `kubeflow.resources` entry; ConfigError names a bad key."""
    where = f"kubeflow.resources.{step}"
    unknown = sorted(set(values) - set(RESOURCE_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {list(RESOURCE_KEYS)}")
    for key in ("cpu", "memory_gb", "accelerator_count"):
        value = values.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"{where}.{key} must be a number >= 0, got {value!r}")
    resources: dict[str, Any] = {}
    if values.get("cpu"):
        resources["cpuLimit"] = float(values["cpu"])
    if values.get("memory_gb"):
        resources["memoryLimit"] = float(values["memory_gb"])
    if values.get("accelerator"):
        count = int(values.get("accelerator_count", 1))
        resources["accelerator"] = {"type": str(values["accelerator"]), "count": str(count)}
    return resources


def set_resources(
    job: dict, resources: Mapping[str, Mapping[str, Any]], known: Mapping[str, Any]
) -> None:
    """Write each configured step's limits into a compiled PipelineJob; a step's entry also
    covers its cross-validation copies (`Trainer` sets `Trainer_fold1` ...). A name that is
    neither a step here nor in `known` (steps other builds have) is a ConfigError."""
    executors = job["pipelineSpec"]["deploymentSpec"]["executors"]
    steps = {name.removesuffix(_EXECUTOR_SUFFIX): name for name in executors}
    for step, values in resources.items():
        matched = [s for s in steps if s == step or s.startswith(f"{step}_fold")]
        if not matched and step not in known:
            raise ConfigError(
                f"kubeflow.resources names step '{step}', which no signpipe pipeline has; "
                f"this one's steps: {sorted(steps)}"
            )
        limits = container_resources(step, values)
        for name in matched:
            executors[steps[name]]["container"]["resources"] = limits
