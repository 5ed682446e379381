"""Compiles the pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines (KubeflowV2DagRunner)."""

import dataclasses
import json
import os
from typing import Any

import yaml

from signpipe.errors import ConfigError
from signpipe.pipeline.configs import KubeflowConfig, PipelineConfig
from signpipe.pipeline.step_resources import set_resources

# The Dockerfile's ENTRYPOINT is `signpipe`; the compiled steps run TFX's own entry points.
# (TFX is imported inside functions: the CLI imports this module to build its parser.)
CONTAINER_COMMAND = [
    "python",
    "-m",
    "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor",
]
DEFAULT_OUTPUT = "signpipe_pipeline.json"
KUBEFLOW, VERTEX = "kubeflow", "vertex"
TARGETS = (KUBEFLOW, VERTEX)
INGESTION_TASK = "ImageFolderExampleGen"


def kubeflow_config(config: PipelineConfig, pipeline_root: str) -> PipelineConfig:
    """The config as a cluster sees it: a data root it can read, pushes under the root."""
    if config.uses_demo_data:
        raise ConfigError(
            "compiling for Kubeflow needs a data root the cluster can read: pass --data-root "
            "(or set data.data_root), e.g. gs://bucket/lse; the demo data exists only locally"
        )
    if not pipeline_root:
        raise ConfigError("compiling for Kubeflow needs --pipeline-root, e.g. gs://bucket/signpipe")
    serving = config.serving
    if serving.serving_root:
        return config
    return dataclasses.replace(
        config,
        serving=dataclasses.replace(serving, serving_root=os.path.join(pipeline_root, "serving")),
    )


def runtime_defaults(pipeline) -> dict[str, Any]:
    """Each run-time parameter's default, as the pipeline's components hold them."""
    from tfx.orchestration.data_types import RuntimeParameter

    return {
        value.name: value.default
        for component in pipeline.components
        for value in component.exec_properties.values()
        if isinstance(value, RuntimeParameter)
    }


def compile_pipeline(
    config: PipelineConfig,
    image: str,
    pipeline_root: str,
    output: str = DEFAULT_OUTPUT,
    target: str = KUBEFLOW,
) -> str:
    """Write the compiled pipeline: a PipelineJob JSON, or a PipelineSpec for `.yaml`; its path.

    TFX's compiler drops run-time parameter defaults from the PipelineSpec (it puts them
    only in a PipelineJob's runtimeConfig); they are written into both here, so a run
    submitted to open-source KFP without values uses the configured ones.

    The `kubeflow` target is for open-source KFP, whose v2 backend rejects TFX's resolver
    executor and never runs ExampleGen's pre-cache driver: the baseline comes from the
    LatestBlessedModel container step, and neither it nor ingestion is ever served from the
    cache. `vertex` keeps TFX's resolver and driver. Each step's pod limits come from
    `kubeflow.resources`.
    """
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    from signpipe.pipeline.pipeline import BASELINE_STEP, ClusterBuild, create_pipeline

    if not image:
        raise ConfigError("compiling for Kubeflow needs --image, the signpipe image to run")
    if target not in TARGETS:
        raise ConfigError(f"--target '{target}' is unknown; use one of {TARGETS}")
    cluster = ClusterBuild(pipeline_root, baseline_step=target == KUBEFLOW)
    pipeline = create_pipeline(kubeflow_config(config, pipeline_root), cluster=cluster)
    defaults = runtime_defaults(pipeline)
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            default_image=image,
            default_commands=CONTAINER_COMMAND,
            # The schema kfp 2.x and its pipeline-spec package (0.2.x, in the lock) read.
            use_pipeline_spec_2_1=True,
        ),
    )
    job = runner.run(pipeline, parameter_values=defaults, write_out=False)
    parameters = job["pipelineSpec"]["root"]["inputDefinitions"]["parameters"]
    for name, default in defaults.items():
        parameters[name].update(defaultValue=default, isOptional=True)
    set_resources(job, config.kubeflow.resources, KubeflowConfig().resources)
    if target == KUBEFLOW:
        # Both read what changed since the last run (files, the pipeline's history), which
        # KFP's cache key, made of the task's inputs, cannot see.
        tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
        for task in {INGESTION_TASK, BASELINE_STEP} & set(tasks):  # folds have no baseline
            tasks[task]["cachingOptions"] = {"enableCache": False}
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    with open(output, "w", encoding="utf-8") as out:
        if output.endswith((".yaml", ".yml")):
            yaml.safe_dump(job["pipelineSpec"], out, sort_keys=True)
        else:
            json.dump(job, out, indent=1, sort_keys=True)
    return output
