"""Runs the pipeline with TFX's LocalDagRunner (Beam DirectRunner for the Beam steps)."""

from tfx.orchestration.local.local_dag_runner import LocalDagRunner

from signpipe.pipeline.configs import PipelineConfig
from signpipe.pipeline.pipeline import create_pipeline
from signpipe.pipeline.run_lock import run_lock


def run(config: PipelineConfig, data_only: bool = False) -> None:
    """Run the configured pipeline (or its data half) locally, reusing cached steps.

    Holds the home's run lock: a second run of the same home fails at once, naming the first.
    """
    with run_lock(config.home):
        LocalDagRunner().run(create_pipeline(config, data_only=data_only))
