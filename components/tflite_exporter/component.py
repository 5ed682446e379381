"""TFLiteExporter: convert, measure and gate TFLite variants; push the blessed ones."""

from tfx.dsl.components.base import base_component, executor_spec
from tfx.orchestration.data_types import RuntimeParameter
from tfx.types import Channel, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from signpipe.components.artifacts import TFLiteModels
from signpipe.components.tflite_exporter import executor


class TFLiteExporterSpec(ComponentSpec):
    """The trained model and its data in; every variant, measured and gated, out."""

    PARAMETERS = {
        executor.VARIANTS_KEY: ExecutionParameter(type=str),  # comma-separated
        executor.REPRESENTATIVE_IMAGES_KEY: ExecutionParameter(type=int),
        executor.QAT_EPOCHS_KEY: ExecutionParameter(type=int),
        executor.QAT_IMAGES_KEY: ExecutionParameter(type=int),
        executor.QAT_LEARNING_RATE_KEY: ExecutionParameter(type=float),
        executor.BATCH_SIZE_KEY: ExecutionParameter(type=int),
        executor.MAX_DROP_KEY: ExecutionParameter(type=float),
        executor.LATENCY_RUNS_KEY: ExecutionParameter(type=int),
        executor.PUSH_ROOT_KEY: ExecutionParameter(type=str),
    }
    INPUTS = {
        "model": ChannelParameter(type=standard_artifacts.Model),
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "transform_graph": ChannelParameter(type=standard_artifacts.TransformGraph),
        "pushed_model": ChannelParameter(type=standard_artifacts.PushedModel),
    }
    OUTPUTS = {"tflite_models": ChannelParameter(type=TFLiteModels)}


class TFLiteExporter(base_component.BaseComponent):
    """Makes float32, dynamic-range, float16, int8 and QAT int8 TFLite models.

    Each variant is measured on the test split (accuracy, agreement with the SavedModel,
    size, latency) and blessed when its accuracy stays within `max_drop_from_saved_model` of
    the SavedModel's. Blessed variants of a pushed model go to `<push_root>/tflite/<version>/`.
    """

    SPEC_CLASS = TFLiteExporterSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        model: Channel,
        examples: Channel,
        transform_graph: Channel,
        pushed_model: Channel,
        push_root: str,
        variants: str | RuntimeParameter,
        representative_images: int = 200,
        qat_epochs: int = 2,
        qat_images: int = 256,
        qat_learning_rate: float = 1e-5,
        batch_size: int = 32,
        max_drop_from_saved_model: float = 0.01,
        latency_runs: int = 50,
    ):
        """Wire the exporter after the Trainer and the Pusher (it pushes what Pusher pushed).

        `variants` is a comma-separated list of variant names.
        """
        super().__init__(
            spec=TFLiteExporterSpec(
                model=model,
                examples=examples,
                transform_graph=transform_graph,
                pushed_model=pushed_model,
                push_root=push_root,
                variants=variants,
                representative_images=int(representative_images),
                qat_epochs=int(qat_epochs),
                qat_images=int(qat_images),
                qat_learning_rate=float(qat_learning_rate),
                batch_size=int(batch_size),
                max_drop_from_saved_model=float(max_drop_from_saved_model),
                latency_runs=int(latency_runs),
                tflite_models=Channel(type=TFLiteModels),
            )
        )
