"""The run configuration: one typed place, with defaults that run on the generated demo data."""

import dataclasses
import json
import os
import re
import typing
from pathlib import Path
from typing import Any

from signpipe.errors import ConfigError
from signpipe.models import features

REQUIRED_SPLITS = ("train", "eval")
BACKBONES = ("efficientnet_lite0", "efficientnet_b0")
WEIGHT_SOURCES = ("lite0-pretrained", "imagenet", "none")  # anything else is a file path
WEIGHT_FILE_SUFFIXES = {"efficientnet_lite0": (".pth", ".h5"), "efficientnet_b0": (".h5",)}
DEMO_DATA_FOLDER = "demo_data"
LEAVE_ONE_GROUP_OUT = "loo"
TFLITE_VARIANTS = ("float32", "dynamic_range", "float16", "int8", "qat_int8")
MODEL_INPUTS = tuple(features.MODEL_INPUTS)
MAX_LANDMARK_JITTER = 0.2  # hand sizes; more moves fingertips across fingers
MAX_AUGMENTATION = 4.0  # brightness and contrast changes reach 60% there


@dataclasses.dataclass
class DataConfig:
    """Where the images are and how they are split."""

    data_root: str = ""  # empty: the generated demo data under `home`
    split_ratios: dict[str, float] = dataclasses.field(
        default_factory=lambda: {"train": 0.7, "eval": 0.15, "test": 0.15}
    )
    group_regex: str | None = None  # e.g. "^(hand\\d+)_" keeps each signer in one split
    group_folder_level: int | None = None  # 1: the first sub-folder below the class folder
    pinned_groups: dict[str, str] = dataclasses.field(default_factory=dict)  # group -> split
    # These groups, whole, are the test split; the rest is split train/eval by split_ratios.
    test_groups: list[str] = dataclasses.field(default_factory=list)
    train_eval_by_group: bool = False  # with test_groups: train/eval split by group as well
    # Cross-validation: whole groups in K folds (an int >= 2) or one fold per group ("loo");
    # one Trainer and Evaluator per fold, and nothing is pushed.
    folds: int | str | None = None
    split_seed: str = "signpipe"
    span: int | None = None  # with `{SPAN}` in data_root: None picks the latest span
    # MediaPipe Hands on every image at ingestion: found, handedness, 21 landmarks, crop box.
    hand_analysis: bool = True
    hand_min_confidence: float = 0.5  # MediaPipe's palm detection threshold


@dataclasses.dataclass
class DemoDataConfig:
    """The synthetic data set generated when no data root is given."""

    images_per_class: int = 40
    signers: int = 4
    image_size: int = 160
    seed: int = 0


@dataclasses.dataclass
class ValidationConfig:
    """How the data is checked before anything trains on it."""

    schema_path: str | None = None  # a curated schema.pbtxt (see `signpipe schema`)
    fail_on_anomalies: bool = True  # False: anomalies are reported as warnings only
    max_class_imbalance: float = 5.0  # largest / smallest class count within a split
    min_image_side: int = 32  # pixels; smaller images are an anomaly
    # Fewer images of a class in an eval or test split (or a fold) is an anomaly: an
    # accuracy measured on 2 images a class can bless a model by chance.
    min_images_per_class: int = 5
    # Drift of a new span against the previous one (data roots with {SPAN}), split by split:
    drift_label_linf: float = 0.1  # L-infinity distance between the class distributions
    drift_image_jsd: float = 0.1  # Jensen-Shannon divergence of brightness, sharpness, sizes
    sample_images_per_class: int = 6  # thumbnails per class in the report
    # A split whose share of images with a hand found is lower is an anomaly (0 turns it off).
    min_hand_detection_rate: float = 0.1


@dataclasses.dataclass
class TrainingConfig:
    """The model and its two-phase transfer learning (the Trainer's custom_config)."""

    inputs: str = "both"  # image (the hand crop) | landmarks (hand shape) | both, fused
    backbone: str = "efficientnet_lite0"  # or efficientnet_b0
    backbone_weights: str = "lite0-pretrained"  # lite0-pretrained | imagenet | none | a file
    image_size: int = 224
    batch_size: int = 32
    # Phase 1: backbone frozen, only the head trains (on cached features: seconds an epoch;
    # the landmark MLP needs more than 5: 69% -> 73% on spanish held-out signers at 30).
    head_epochs: int = 20
    # False: phase 1 trains the head on the frozen backbone's features of each image, computed
    # once; True: on augmented images, running the backbone on every batch of every epoch.
    head_augmentation: bool = False
    finetune_epochs: int = 5  # phase 2: the top of the backbone trains too
    head_learning_rate: float = 1e-3
    finetune_learning_rate: float = 1e-4
    finetune_fraction: float = 0.3  # top share of backbone layers unfrozen in phase 2
    dropout: float = 0.2
    # With both inputs: the landmark branch's share of the answer when a hand was found (the
    # image branch answers alone when none was). Each branch trains on its own loss, so either
    # works alone. Probes on held-out signers (frozen-backbone features, 2 seeds): mixing
    # beat one softmax on both branches' features by 1-2 points on asl_massey and 2.5-3 on
    # spanish_alphabet_2signers, where the crop branch learns the person; 2/3 did best there.
    landmark_share: float = 0.67
    # Targets 0.9 on the true class (+0.1 spread over all): on held-out signers +1.2 / +5.6
    # points on spanish_alphabet_2signers, +0.8-2.2 on asl_massey's eval person and no change
    # for its test people, with every int8 file still blessed (docs/benchmarks.md).
    label_smoothing: float = 0.1
    # Share of training hands whose landmarks are turned half round the vertical axis (palm
    # to the camera <-> back to it, pointing left <-> right; `models/landmark_augmentation.py`).
    # Probes of the landmark MLP on held-out signers: spanish_alphabet_2signers 73.7% ->
    # 76.5% (5 seeds), asl_massey leaving each signer out 87.4% -> 87.5% (2 seeds).
    landmark_turn: float = 0.5
    # Normal noise, in hand sizes, added to every training landmark but the wrist, distances
    # recomputed (`models/landmark_augmentation.py`): another signer's fingers are a little
    # longer or bent a little more. With the 256/128 landmark MLP: spanish_alphabet_2signers
    # +1.7 / +1.3 points, asl_massey's test people +0.8-1.6, its eval person -2.8-3.3
    # (docs/benchmarks.md).
    landmark_jitter: float = 0.04
    early_stopping_patience: int = 3
    # Scales every random change the image branch trains on (zoom, shift, rotation,
    # brightness, contrast; `models/model.py`, `augmenter`). 0 turns them off.
    augmentation: float = 1.0
    horizontal_flip: bool = False  # off: a mirrored hand is the other signing hand
    seed: int = 0


@dataclasses.dataclass
class EvaluationConfig:
    """When a model is blessed: an absolute floor and no regression against the baseline."""

    accuracy_floor: float = 0.5
    max_accuracy_drop: float = 0.02  # against the latest blessed model; skipped on a first run


@dataclasses.dataclass
class TFLiteConfig:
    """The TFLite models for phones: which variants, how they are made, when one may ship."""

    variants: list[str] = dataclasses.field(default_factory=lambda: list(TFLITE_VARIANTS))
    representative_images: int = 200  # training images that calibrate int8 activations
    qat_epochs: int = 2  # quantization-aware fine-tune of the trained model
    # Training images drawn (seeded) for that fine-tune. The frozen backbone's outputs for
    # them are computed once and held in memory: about 0.5 MB an image at 224 px.
    qat_images: int = 256
    qat_learning_rate: float = 1e-5
    max_drop_from_saved_model: float = 0.01  # a variant's accuracy below the SavedModel's
    latency_runs: int = 50  # timed batch-1 invocations per variant, after warm-up


@dataclasses.dataclass
class ServingConfig:
    """Where blessed models are pushed: <serving_root>/<model_name>/<version>/."""

    model_name: str = "signpipe"
    serving_root: str = ""  # empty: <home>/serving
    served_versions: int = 2  # models.config serves the newest N: clients may pin the previous
    keep_versions: int = 0  # delete all but the newest N versions after a push; 0 keeps all
    config_base_path: str = "/models"  # where the server mounts serving_root; "" = local path


@dataclasses.dataclass
class KubeflowConfig:
    """Compiled runs on open-source KFP: where their baseline step reads the pipeline's history."""

    # ML Metadata's gRPC service. Empty: KFP's METADATA_GRPC_SERVICE_HOST/PORT (its
    # metadata-grpc-configmap), and with neither, the newest model in the serving root.
    metadata_host: str = ""
    metadata_port: int = 8080
    # Each step's pod limits, by step id: "cpu" (vCPUs), "memory_gb", "accelerator" (a
    # Vertex/KFP accelerator type such as NVIDIA_TESLA_T4) and "accelerator_count". With
    # limits alone Kubernetes requests as much, so the defaults fit a 4-vCPU, 16 GB node;
    # hand analysis runs a thread per vCPU and the Trainer's ops use every vCPU, so both
    # gain from more (docs/kubeflow.md#scaling-out).
    resources: dict[str, dict[str, Any]] = dataclasses.field(
        default_factory=lambda: {
            "ImageFolderExampleGen": {"cpu": 4, "memory_gb": 8},
            "Transform": {"cpu": 2, "memory_gb": 8},
            "Trainer": {"cpu": 4, "memory_gb": 12},
            "TFLiteExporter": {"cpu": 2, "memory_gb": 8},
        }
    )


@dataclasses.dataclass
class PipelineConfig:
    """Everything a run needs; the CLI, the runners and the tests build pipelines from it."""

    pipeline_name: str = "signpipe"
    home: str = "signpipe_home"  # pipeline root, metadata store and reports live here
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    demo: DemoDataConfig = dataclasses.field(default_factory=DemoDataConfig)
    validation: ValidationConfig = dataclasses.field(default_factory=ValidationConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
    tflite: TFLiteConfig = dataclasses.field(default_factory=TFLiteConfig)
    serving: ServingConfig = dataclasses.field(default_factory=ServingConfig)
    kubeflow: KubeflowConfig = dataclasses.field(default_factory=KubeflowConfig)
    enable_cache: bool = True
    # Empty: Beam's DirectRunner in this process (in_memory), measured fastest on two cores
    # (benchmarks/beam_workers.py). Any argument, even that default spelled out, makes every
    # TFX Beam executor build a TFX sdist for remote workers first (3 s a step, wasted here).
    beam_args: list[str] = dataclasses.field(default_factory=list)

    @property
    def pipeline_root(self) -> str:
        """Where TFX writes every artifact of this pipeline."""
        return os.path.join(self.home, "pipelines", self.pipeline_name)

    @property
    def metadata_path(self) -> str:
        """The SQLite ML Metadata store."""
        return os.path.join(self.home, "metadata.sqlite")

    @property
    def data_root(self) -> str:
        """The image folder to ingest: the configured one, or the demo data."""
        return self.data.data_root or os.path.join(self.home, DEMO_DATA_FOLDER)

    @property
    def serving_root(self) -> str:
        """Where Pusher writes blessed models."""
        return self.serving.serving_root or os.path.join(self.home, "serving")

    @property
    def uses_demo_data(self) -> bool:
        """Whether the run ingests the generated demo data."""
        return not self.data.data_root

    def validate(self) -> "PipelineConfig":
        """Check values that would otherwise fail deep inside TFX; return self.

        Local paths become absolute: ML Metadata records artifact locations as given, and a
        relative one would point elsewhere when the history is read from another folder.
        """
        self.home = _absolute(self.home)
        self.data.data_root = _absolute(self.data.data_root)
        self.serving.serving_root = _absolute(self.serving.serving_root)
        ratios = self.data.split_ratios
        missing = [name for name in REQUIRED_SPLITS if name not in ratios]
        if missing:
            raise ConfigError(f"data.split_ratios needs the split(s) {missing}; got {ratios}")
        bad = {name: r for name, r in ratios.items() if not isinstance(r, int | float) or r <= 0}
        if bad:
            raise ConfigError(
                f"data.split_ratios must be numbers above 0 (leave a split out to drop it); "
                f"got {bad}"
            )
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.pipeline_name):
            raise ConfigError(
                f"pipeline_name '{self.pipeline_name}' must be lower case letters, digits, _"
            )
        if self.data.group_regex and self.data.group_folder_level is not None:
            raise ConfigError("set data.group_regex or data.group_folder_level, not both")
        if self.data.group_regex:
            try:
                re.compile(self.data.group_regex)
            except re.error as err:
                raise ConfigError(
                    f"data.group_regex '{self.data.group_regex}' is not a regex: {err}"
                ) from None
        unknown = {g: s for g, s in self.data.pinned_groups.items() if s not in ratios}
        if unknown:
            raise ConfigError(
                f"data.pinned_groups {unknown} names unknown split(s); splits: {list(ratios)}"
            )
        level = self.data.group_folder_level
        if level is not None and level < 1:
            raise ConfigError(f"data.group_folder_level must be 1 or more; got {level}")
        _check_held_out_groups(self.data)
        training = self.training
        if training.backbone not in BACKBONES:
            raise ConfigError(
                f"training.backbone '{training.backbone}' is unknown; use {BACKBONES}"
            )
        _check_backbone_weights(training)
        if training.image_size < 32 or training.batch_size < 1:
            raise ConfigError("training.image_size must be >= 32 and training.batch_size >= 1")
        if not 0 <= training.finetune_fraction <= 1:
            raise ConfigError("training.finetune_fraction must be between 0 and 1")
        if training.inputs not in MODEL_INPUTS:
            raise ConfigError(f"training.inputs '{training.inputs}' is unknown; use {MODEL_INPUTS}")
        if training.inputs != "image" and not self.data.hand_analysis:
            raise ConfigError(
                f"training.inputs '{training.inputs}' needs landmarks: set data.hand_analysis "
                "to true, or training.inputs to 'image'"
            )
        if not 0 <= training.label_smoothing < 1:
            raise ConfigError("training.label_smoothing must be at least 0 and below 1")
        for name in ("landmark_share", "landmark_turn"):
            if not 0 <= getattr(training, name) <= 1:
                raise ConfigError(f"training.{name} must be between 0 and 1")
        if not 0 <= training.landmark_jitter <= MAX_LANDMARK_JITTER:
            raise ConfigError(
                f"training.landmark_jitter must be between 0 and {MAX_LANDMARK_JITTER}"
            )
        if not 0 <= training.augmentation <= MAX_AUGMENTATION:
            raise ConfigError(f"training.augmentation must be between 0 and {MAX_AUGMENTATION}")
        if not 0 < self.data.hand_min_confidence <= 1:
            raise ConfigError("data.hand_min_confidence must be above 0 and at most 1")
        known_variants(self.tflite.variants, "tflite.variants")
        tflite = self.tflite
        if min(tflite.representative_images, tflite.latency_runs, tflite.qat_images) < 1:
            raise ConfigError(
                "tflite.representative_images, tflite.latency_runs and tflite.qat_images "
                "must be >= 1"
            )
        _check_serving(self.serving)
        for name in ("drift_label_linf", "drift_image_jsd"):
            if not 0 < getattr(self.validation, name) <= 1:
                raise ConfigError(f"validation.{name} must be above 0 and at most 1")
        if not 0 <= self.validation.min_hand_detection_rate <= 1:
            raise ConfigError("validation.min_hand_detection_rate must be between 0 and 1")
        if self.validation.min_images_per_class < 1:
            raise ConfigError("validation.min_images_per_class must be at least 1")
        if self.validation.max_class_imbalance < 1:
            raise ConfigError("validation.max_class_imbalance must be at least 1")
        if self.validation.schema_path and not Path(self.validation.schema_path).is_file():
            raise ConfigError(
                f"validation.schema_path '{self.validation.schema_path}' is not a file: "
                "write one with `signpipe schema`"
            )
        return self


def _absolute(path: str) -> str:
    """A local path made absolute; a URI (gs://, s3://, ...) or "" as it is."""
    return path if not path or "://" in path else os.path.abspath(path)


def _check_held_out_groups(data: DataConfig) -> None:
    """Test groups and folds need a group key, and exclude each other and pinned groups."""
    grouped = bool(data.group_regex) or data.group_folder_level is not None
    folds = data.folds
    if folds is not None and folds != LEAVE_ONE_GROUP_OUT:
        if isinstance(folds, str) and folds.isdigit():
            folds = data.folds = int(folds)
        if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
            raise ConfigError(
                f"data.folds must be a number of folds (2 or more) or '{LEAVE_ONE_GROUP_OUT}' "
                f"(one fold per group); got {data.folds!r}"
            )
    for name, used in (("data.test_groups", bool(data.test_groups)), ("data.folds", folds)):
        if used and not grouped:
            raise ConfigError(
                f"{name} needs a group key for every image: set data.group_regex "
                "(--group-regex) or data.group_folder_level (--group-folder-level)"
            )
        if used and data.pinned_groups:
            raise ConfigError(f"set {name} or data.pinned_groups (--pin), not both")
    if data.test_groups and folds:
        raise ConfigError("set data.test_groups or data.folds, not both: each fold is a test set")
    if data.train_eval_by_group and not data.test_groups:
        raise ConfigError(
            "data.train_eval_by_group applies with data.test_groups; without test groups a "
            "group key already puts whole groups in every split"
        )


def _check_backbone_weights(training: TrainingConfig) -> None:
    """A weight source the backbone can use; a weights file must exist with a known suffix."""
    weights, backbone = training.backbone_weights, training.backbone
    if backbone != "efficientnet_lite0" and weights == "lite0-pretrained":
        raise ConfigError(
            f"training.backbone_weights 'lite0-pretrained' is for efficientnet_lite0; for "
            f"{backbone} use 'imagenet' (downloads), 'none' or a weights file"
        )
    if weights in WEIGHT_SOURCES:
        return
    suffixes = WEIGHT_FILE_SUFFIXES[backbone]
    if not weights.endswith(suffixes):
        raise ConfigError(
            f"training.backbone_weights '{weights}' is neither one of {WEIGHT_SOURCES} nor a "
            f"weights file for {backbone} (a path ending in {' or '.join(suffixes)})"
        )
    if not Path(weights).is_file():
        raise ConfigError(
            f"training.backbone_weights file '{weights}' does not exist: put the weights file "
            f"there (a path the Trainer can read), or use one of {WEIGHT_SOURCES}"
        )


def _check_serving(serving: ServingConfig) -> None:
    """A model name TF Serving and file systems accept; retention that keeps what is served."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", serving.model_name):
        raise ConfigError(
            f"serving.model_name '{serving.model_name}' must be letters, digits, '_', '.' or '-'"
        )
    if serving.served_versions < 1:
        raise ConfigError(
            f"serving.served_versions must be 1 or more; got {serving.served_versions}"
        )
    if serving.keep_versions and serving.keep_versions < serving.served_versions:
        raise ConfigError(
            f"serving.keep_versions {serving.keep_versions} would delete versions TF Serving "
            f"serves (serving.served_versions {serving.served_versions}): keep at least as many, "
            "or 0 to keep all"
        )


def known_variants(names: list[str], source: str) -> list[str]:
    """The TFLite variants named (blanks dropped), each a known one; `source` says whence."""
    names = [name.strip() for name in names if name.strip()]
    unknown = sorted(set(names) - set(TFLITE_VARIANTS))
    if unknown:
        raise ConfigError(
            f"{source}: TFLite variants {unknown} are unknown; choose from {TFLITE_VARIANTS}"
        )
    return names


def _from_dict(cls: type, values: dict[str, Any], where: str) -> Any:
    """Build a config dataclass from a dict, naming any unknown key."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where or 'the config'} must be a mapping; got {values!r}")
    fields = {field.name: field for field in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {[f'{where}{key}' for key in unknown]}; "
            f"known keys: {sorted(fields)}"
        )
    kwargs = {}
    for key, value in values.items():
        if dataclasses.is_dataclass(hints[key]):
            kwargs[key] = _from_dict(hints[key], value, f"{where}{key}.")
        else:
            kwargs[key] = value
    return cls(**kwargs)


def load_config(path: str | None = None, **overrides: Any) -> PipelineConfig:
    """Read a JSON or YAML config file (or the defaults) and apply dotted-key overrides."""
    values: dict[str, Any] = {}
    if path:
        text = _read_text(path)
        if path.endswith((".yaml", ".yml")):
            import yaml

            values = yaml.safe_load(text) or {}
        else:
            try:
                values = json.loads(text)
            except json.JSONDecodeError as err:
                raise ConfigError(f"config file '{path}' is not valid JSON: {err}") from None
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = values
        *parents, leaf = dotted.split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return _from_dict(PipelineConfig, values, "").validate()


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config file '{path}': {err.strerror}") from None
