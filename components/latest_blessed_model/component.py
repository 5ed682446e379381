"""LatestBlessedModel: the Evaluator's baseline where TFX's resolver cannot run (KFP)."""

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import Channel, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from signpipe.components.latest_blessed_model import executor


class LatestBlessedModelSpec(ComponentSpec):
    """No inputs: it reads the pipeline's history; one Model out."""

    PARAMETERS = {
        executor.PIPELINE_NAME_KEY: ExecutionParameter(type=str),
        executor.PUSH_ROOT_KEY: ExecutionParameter(type=str),
        executor.METADATA_HOST_KEY: ExecutionParameter(type=str),
        executor.METADATA_PORT_KEY: ExecutionParameter(type=int),
    }
    INPUTS = {}
    OUTPUTS = {"model": ChannelParameter(type=standard_artifacts.Model)}


class LatestBlessedModel(base_component.BaseComponent):
    """A copy of the pipeline's latest blessed model, or a Model marked 'not found'.

    It looks in the ML Metadata store KFP runs in-cluster (configured, or from KFP's
    METADATA_GRPC_SERVICE_HOST/PORT), else in the Pusher's serving root, and records which.
    An ordinary container step: open-source KFP's v2 back-end runs no TFX resolver.
    """

    SPEC_CLASS = LatestBlessedModelSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self, pipeline_name: str, push_root: str, metadata_host: str = "", metadata_port: int = 8080
    ):
        """Find the baseline for runs of `pipeline_name` pushing under `push_root`."""
        super().__init__(
            spec=LatestBlessedModelSpec(
                pipeline_name=pipeline_name,
                push_root=push_root,
                metadata_host=metadata_host,
                metadata_port=int(metadata_port),
                model=Channel(type=standard_artifacts.Model),
            )
        )
