"""ServingPusher: TFX's Pusher for a TF Serving model directory with atomic versions."""

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import Channel, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from signpipe.components.serving_pusher import executor


class ServingPusherSpec(ComponentSpec):
    """The blessed model and what its card reports in; the stock PushedModel out."""

    PARAMETERS = {
        executor.SERVING_ROOT_KEY: ExecutionParameter(type=str),
        executor.MODEL_NAME_KEY: ExecutionParameter(type=str),
        executor.KEEP_VERSIONS_KEY: ExecutionParameter(type=int),
        executor.SERVED_VERSIONS_KEY: ExecutionParameter(type=int),
        executor.CONFIG_BASE_PATH_KEY: ExecutionParameter(type=str),
    }
    INPUTS = {
        "model": ChannelParameter(type=standard_artifacts.Model),
        "model_blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "transform_graph": ChannelParameter(type=standard_artifacts.TransformGraph),
        "evaluation": ChannelParameter(type=standard_artifacts.ModelEvaluation),
        "test_evaluation": ChannelParameter(type=standard_artifacts.ModelEvaluation, optional=True),
        # The Evaluator's baseline, for the card to say where it was found.
        "baseline_model": ChannelParameter(type=standard_artifacts.Model, optional=True),
    }
    OUTPUTS = {"pushed_model": ChannelParameter(type=standard_artifacts.PushedModel)}


class ServingPusher(base_component.BaseComponent):
    """Pushes a blessed model to `<serving_root>/<model_name>/<version>/` for TF Serving.

    Versions only grow; each appears atomically with its model card; `keep_versions`
    (0: all) prunes old ones; `<serving_root>/models.config` lists every model and serves
    its newest `served_versions`.
    """

    SPEC_CLASS = ServingPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        model: Channel,
        model_blessing: Channel,
        examples: Channel,
        transform_graph: Channel,
        evaluation: Channel,
        serving_root: str,
        model_name: str,
        test_evaluation: Channel | None = None,
        baseline_model: Channel | None = None,
        keep_versions: int = 0,
        served_versions: int = 2,
        config_base_path: str = "/models",
    ):
        """Wire the pusher after the Evaluator that blesses the model."""
        super().__init__(
            spec=ServingPusherSpec(
                model=model,
                model_blessing=model_blessing,
                examples=examples,
                transform_graph=transform_graph,
                evaluation=evaluation,
                test_evaluation=test_evaluation,
                baseline_model=baseline_model,
                serving_root=serving_root,
                model_name=model_name,
                keep_versions=int(keep_versions),
                served_versions=int(served_versions),
                config_base_path=config_base_path,
                pushed_model=Channel(type=standard_artifacts.PushedModel),
            )
        )
