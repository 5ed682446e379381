"""Runs the pipeline with TFX's LocalDagRunner (Beam DirectRunner for the Beam steps)."""

from tfx.orchestration.local.local_dag_runner import LocalDagRunner

from signpipe.pipeline.configs import PipelineConfig
from signpipe.pipeline.pipeline import create_pipeline


def run(config: PipelineConfig, data_only: bool = False) -> None:
    """Run the configured pipeline (or its data half) locally, reusing cached steps."""
    LocalDagRunner().run(create_pipeline(config, data_only=data_only))
