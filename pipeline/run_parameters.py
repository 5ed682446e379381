"""What may change between scheduled runs of one compiled pipeline, and its defaults."""

import dataclasses

from tfx.orchestration.data_types import RuntimeParameter

from signpipe.pipeline.configs import PipelineConfig

DATA_ROOT = "data_root"
HEAD_EPOCHS = "head_epochs"
FINETUNE_EPOCHS = "finetune_epochs"
ACCURACY_FLOOR = "accuracy_floor"
TFLITE_VARIANTS = "tflite_variants"
NAMES = (DATA_ROOT, HEAD_EPOCHS, FINETUNE_EPOCHS, ACCURACY_FLOOR, TFLITE_VARIANTS)


@dataclasses.dataclass(frozen=True)
class RunParameters:
    """Values the components take: fixed for a local run, RuntimeParameters for Kubeflow.

    `None` leaves the value in the configuration the component already carries.
    """

    data_root: str | RuntimeParameter
    tflite_variants: str | RuntimeParameter  # comma-separated variant names
    head_epochs: int | RuntimeParameter | None = None
    finetune_epochs: int | RuntimeParameter | None = None
    accuracy_floor: float | RuntimeParameter | None = None


def fixed(config: PipelineConfig) -> RunParameters:
    """The configured values, for a local run."""
    return RunParameters(
        data_root=config.data_root, tflite_variants=",".join(config.tflite.variants)
    )


def runtime(config: PipelineConfig) -> RunParameters:
    """Kubeflow run-time parameters named as in NAMES, defaulting to the configured values."""
    training = config.training
    return RunParameters(
        data_root=RuntimeParameter(name=DATA_ROOT, ptype=str, default=config.data_root),
        tflite_variants=RuntimeParameter(
            name=TFLITE_VARIANTS, ptype=str, default=",".join(config.tflite.variants)
        ),
        head_epochs=RuntimeParameter(name=HEAD_EPOCHS, ptype=int, default=training.head_epochs),
        finetune_epochs=RuntimeParameter(
            name=FINETUNE_EPOCHS, ptype=int, default=training.finetune_epochs
        ),
        accuracy_floor=RuntimeParameter(
            name=ACCURACY_FLOOR, ptype=float, default=config.evaluation.accuracy_floor
        ),
    )
