"""What may change between scheduled runs of one compiled pipeline, and its defaults."""

import dataclasses

from tfx.orchestration.data_types import RuntimeParameter

from signpipe.pipeline.configs import PipelineConfig


@dataclasses.dataclass(frozen=True)
class RunParameters:
    """Values the components take: fixed for a local run, RuntimeParameters for Kubeflow.

    Each field's name is its run-time parameter's name; `None` leaves the value in the
    configuration the component already carries.
    """

    data_root: str | RuntimeParameter
    tflite_variants: str | RuntimeParameter  # comma-separated variant names
    head_epochs: int | RuntimeParameter | None = None
    finetune_epochs: int | RuntimeParameter | None = None
    accuracy_floor: float | RuntimeParameter | None = None


NAMES = tuple(field.name for field in dataclasses.fields(RunParameters))


def fixed(config: PipelineConfig) -> RunParameters:
    """The configured values, for a local run."""
    return RunParameters(
        data_root=config.data_root, tflite_variants=",".join(config.tflite.variants)
    )


def runtime(config: PipelineConfig) -> RunParameters:
    """Kubeflow run-time parameters, each named after its field, defaulting to the config."""
    configured = dataclasses.replace(
        fixed(config),
        head_epochs=config.training.head_epochs,
        finetune_epochs=config.training.finetune_epochs,
        accuracy_floor=float(config.evaluation.accuracy_floor),
    )
    values = {
        field.name: getattr(configured, field.name) for field in dataclasses.fields(configured)
    }
    return RunParameters(
        **{
            name: RuntimeParameter(name=name, ptype=type(value), default=value)
            for name, value in values.items()
        }
    )
