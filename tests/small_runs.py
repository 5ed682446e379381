"""The small pipeline run tests share: four letters of synthetic hands, a short training."""

import os
import subprocess
import sys
from pathlib import Path

from signpipe.pipeline.configs import PipelineConfig, load_config
from signpipe.runs.store import latest_artifact, tfx_artifact

LETTERS = ("A", "B", "L", "Ñ")
SMALL_TRAINING = {
    "training.image_size": 96,
    "training.batch_size": 8,
    "training.head_epochs": 10,  # on cached features: a second in all
    "training.finetune_epochs": 1,
    "evaluation.accuracy_floor": 0.5,  # chance is 0.25 for four letters
    "validation.min_images_per_class": 2,  # 16 images a letter: 2 or 3 in eval and test
    "tflite.qat_epochs": 1,
    "tflite.representative_images": 16,
    "tflite.latency_runs": 3,
    "tflite.max_drop_from_saved_model": 1.0,  # a few test images: the gate itself is tested apart
    # dynamic_range and float16 are converted and run in test_tflite_exporter; the run
    # makes the float reference and both integer variants (QAT is only tested here).
    "tflite.variants": ["float32", "int8", "qat_int8"],
}
ONE_TFLITE_VARIANT = {"tflite.variants": ["float32"]}  # where TFLite is not what is tested
NO_TFLITE = {"tflite.variants": []}


def small_config(home: Path, root: Path, **overrides) -> PipelineConfig:
    """The small run's configuration, with dotted-key overrides."""
    values = {"home": str(home), "data.data_root": str(root), **SMALL_TRAINING, **overrides}
    return load_config(None, **values)


def stored_artifact(config: PipelineConfig, artifact_class: type, component: str):
    """A TFX artifact object for the newest output of a type from one step."""
    return tfx_artifact(
        latest_artifact(config, artifact_class.TYPE_NAME, component), artifact_class
    )


SIGNPIPE = os.path.join(os.path.dirname(sys.executable), "signpipe")  # the installed command


def run_signpipe(*args: str, cwd) -> subprocess.CompletedProcess:
    """The installed `signpipe` command, run in `cwd`, its output captured."""
    return subprocess.run([SIGNPIPE, *args], cwd=cwd, capture_output=True, text=True, timeout=600)
