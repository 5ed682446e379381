"""Runs the pipeline with TFX's LocalDagRunner (Beam DirectRunner for the Beam steps)."""

from tfx.orchestration.local.local_dag_runner import LocalDagRunner

from signpipe.pipeline.configs import PipelineConfig
from signpipe.pipeline.pipeline import create_pipeline


def run(config: PipelineConfig) -> None:
    """Run every component of the configured pipeline locally, reusing cached steps."""
    LocalDagRunner().run(create_pipeline(config))
