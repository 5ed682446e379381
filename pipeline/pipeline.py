"""Builds the signpipe TFX pipeline from a PipelineConfig."""

import dataclasses
import os

import tensorflow_data_validation as tfdv
from tfx.components import ExampleValidator, SchemaGen, StatisticsGen, Transform
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.orchestration import metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import trainer_pb2, transform_pb2

from signpipe import models
from signpipe.components.data_gate.component import DataGate
from signpipe.components.data_validation_report.component import DataValidationReport
from signpipe.components.evaluation import eval_config
from signpipe.components.gated_evaluator.component import GatedEvaluator
from signpipe.components.image_folder_example_gen import folder_layout
from signpipe.components.image_folder_example_gen.component import ImageFolderExampleGen
from signpipe.components.latest_blessed_model.component import LatestBlessedModel
from signpipe.components.parameterized_trainer.component import ParameterizedTrainer
from signpipe.components.serving_pusher.component import ServingPusher
from signpipe.components.span_drift.component import SpanDriftValidator
from signpipe.components.split_names import TRAIN, fold_split_names
from signpipe.components.tflite_exporter.component import TFLiteExporter
from signpipe.models.preprocessing import IMAGE_SIZE_KEY
from signpipe.pipeline import cross_validation
from signpipe.pipeline.baseline_model import baseline_resolver
from signpipe.pipeline.configs import PipelineConfig
from signpipe.pipeline.previous_span import STATISTICS, previous_span_statistics
from signpipe.pipeline.run_parameters import RunParameters, fixed, runtime

MODELS_DIR = os.path.dirname(models.__file__)
# In a container the project is installed: Kubeflow names the user functions instead of
# packaging module files from this machine into the pipeline root.
PREPROCESSING_FN = "signpipe.models.preprocessing.preprocessing_fn"
RUN_FN = "signpipe.models.model.run_fn"
BASELINE_STEP = "LatestBlessedModel"


@dataclasses.dataclass(frozen=True)
class DataSteps:
    """The data half: every component in order, and the ones the model half wires to."""

    components: list
    folds: int  # cross-validation folds the ExampleGen writes; 0 without
    example_gen: ImageFolderExampleGen
    schema_gen: SchemaGen | ImportSchemaGen
    gate: DataGate


def data_components(
    config: PipelineConfig, parameters: RunParameters | None = None, cluster: bool = False
) -> DataSteps:
    """ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> report -> gate.

    With `{SPAN}` in the data root (and a local build: Kubeflow's compiler takes no custom
    resolver), the report also compares the span with the previous one.
    """
    data = config.data
    parameters = parameters or fixed(config)
    folds = cross_validation.fold_count(config)  # loo lists the data root: count it once
    example_gen = ImageFolderExampleGen(
        data_root=parameters.data_root,
        split_ratios=data.split_ratios,
        group_regex=data.group_regex,
        group_folder_level=data.group_folder_level,
        pinned_groups=data.pinned_groups,
        split_seed=data.split_seed,
        span=data.span,
        test_groups=data.test_groups,
        train_eval_by_group=data.train_eval_by_group,
        folds=folds,
        hand_analysis=data.hand_analysis,
        hand_min_confidence=data.hand_min_confidence,
    )
    statistics_gen = StatisticsGen(
        examples=example_gen.outputs["examples"],
        stats_options=tfdv.StatsOptions(enable_semantic_domain_stats=True),
    )
    if config.validation.schema_path:
        schema_gen = ImportSchemaGen(schema_file=config.validation.schema_path)
    else:
        schema_gen = SchemaGen(
            statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True
        )
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    components = [example_gen, statistics_gen, schema_gen, example_validator]
    validation = config.validation
    drift = {}
    if folder_layout.SPAN in config.data_root and not cluster:
        # The training split: the largest stratified sample of each span, so its
        # distributions move with the data, not with the draw of a small eval split.
        compared = [TRAIN] if TRAIN in data.split_ratios and not folds else None
        previous = previous_span_statistics(statistics_gen.outputs["statistics"], compared)
        validator = SpanDriftValidator(
            statistics=statistics_gen.outputs["statistics"],
            baseline_statistics=previous.outputs[STATISTICS],
            label_linf=validation.drift_label_linf,
            image_jsd=validation.drift_image_jsd,
            splits=compared,
        )
        components += [previous, validator]
        drift = {
            "drift": validator.outputs["anomalies"],
            "baseline_statistics": previous.outputs[STATISTICS],
        }
    report = DataValidationReport(
        examples=example_gen.outputs["examples"],
        statistics=statistics_gen.outputs["statistics"],
        anomalies=example_validator.outputs["anomalies"],
        max_class_imbalance=validation.max_class_imbalance,
        min_image_side=validation.min_image_side,
        min_images_per_class=validation.min_images_per_class,
        min_hand_detection_rate=validation.min_hand_detection_rate,
        samples_per_class=validation.sample_images_per_class,
        **drift,
    )
    gate = DataGate(report=report.outputs["report"], fail_on_anomalies=validation.fail_on_anomalies)
    return DataSteps(
        components=[*components, report, gate],
        folds=folds,
        example_gen=example_gen,
        schema_gen=schema_gen,
        gate=gate,
    )


def transform_component(
    config: PipelineConfig,
    example_gen,
    schema_gen,
    materialize: bool = False,
    installed_modules: bool = False,
    analyze_splits: list[str] | None = None,
) -> Transform:
    """Transform with the project's preprocessing_fn; images are decoded, not materialized.

    Materializing writes every decoded float image (600 KB at 224 px) to disk; decoding in
    the Trainer's input pipeline and caching in memory was cheaper (benchmarks/). Its only
    analyzer is the label vocabulary, computed on `analyze_splits` (default: train).
    """
    module = (
        {"preprocessing_fn": PREPROCESSING_FN}
        if installed_modules
        else {"module_file": os.path.join(MODELS_DIR, "preprocessing.py")}
    )
    return Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        **module,
        custom_config={IMAGE_SIZE_KEY: config.training.image_size},
        materialize=materialize,
        disable_statistics=True,
        splits_config=transform_pb2.SplitsConfig(analyze=analyze_splits)
        if analyze_splits
        else None,
    )


@dataclasses.dataclass(frozen=True)
class ClusterBuild:
    """A build for a Kubeflow V2 orchestrator instead of the local runner."""

    pipeline_root: str
    # The baseline: TFX's latest-blessed-model resolver, which Vertex AI runs; open-source
    # KFP's v2 back-end rejects any executor but a container or an importer, so its build
    # finds the baseline with the LatestBlessedModel container step instead.
    baseline_step: bool = False


def model_components(
    config: PipelineConfig,
    data: DataSteps,
    parameters: RunParameters | None = None,
    cluster: ClusterBuild | None = None,
) -> list:
    """Transform -> Trainer -> Evaluator (+ test split) -> Pusher -> TFLite, after the gate;
    with folds, Transform -> a Trainer and Evaluator per fold.

    For a `cluster`: user functions by name and TFX's stock baseline resolver (or none),
    what the Kubeflow V2 compiler and its back-ends accept.
    """
    parameters = parameters or fixed(config)
    kubeflow = cluster is not None
    example_gen, schema_gen, gate = data.example_gen, data.schema_gen, data.gate
    module = (
        {"run_fn": RUN_FN} if kubeflow else {"module_file": os.path.join(MODELS_DIR, "model.py")}
    )
    folds = data.folds
    # Every fold's classes: one vocabulary, so the fold models' class indices agree.
    analyze = fold_split_names(folds) if folds else None
    transform = transform_component(
        config, example_gen, schema_gen, installed_modules=kubeflow, analyze_splits=analyze
    )
    transform.add_upstream_node(gate)
    if folds:
        return [
            transform,
            *cross_validation.fold_components(
                config, folds, example_gen, schema_gen, transform, parameters, module
            ),
        ]
    trainer = ParameterizedTrainer(
        examples=example_gen.outputs["examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=trainer_pb2.TrainArgs(splits=["train"]),
        eval_args=trainer_pb2.EvalArgs(splits=["eval"]),
        custom_config=dataclasses.asdict(config.training),
        head_epochs=parameters.head_epochs,
        finetune_epochs=parameters.finetune_epochs,
        **module,
    ).with_id("Trainer")
    components = [transform, trainer]
    if cluster and cluster.baseline_step:
        baseline = LatestBlessedModel(
            pipeline_name=config.pipeline_name,
            push_root=os.path.join(config.serving_root, config.serving.model_name),
            metadata_host=config.kubeflow.metadata_host,
            metadata_port=config.kubeflow.metadata_port,
        ).with_id(BASELINE_STEP)
    else:
        baseline = baseline_resolver(trainer.outputs["model"], exclude_candidate=not kubeflow)
    components.append(baseline)
    evaluator = GatedEvaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        eval_config=eval_config(config.evaluation),
        example_splits=["eval"],
        accuracy_floor=parameters.accuracy_floor,
    ).with_id("Evaluator")
    components.append(evaluator)
    test_evaluator = None
    if "test" in config.data.split_ratios:
        test_evaluator = GatedEvaluator(
            examples=example_gen.outputs["examples"],
            model=trainer.outputs["model"],
            eval_config=eval_config(None),
            example_splits=["test"],
        ).with_id("TestEvaluator")
        components.append(test_evaluator)
    serving = config.serving
    pusher = ServingPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        examples=example_gen.outputs["examples"],
        transform_graph=transform.outputs["transform_graph"],
        evaluation=evaluator.outputs["evaluation"],
        test_evaluation=test_evaluator.outputs["evaluation"] if test_evaluator else None,
        baseline_model=baseline.outputs["model"],
        serving_root=config.serving_root,
        model_name=serving.model_name,
        keep_versions=serving.keep_versions,
        served_versions=serving.served_versions,
        config_base_path=serving.config_base_path,
    ).with_id("Pusher")
    push_root = os.path.join(config.serving_root, serving.model_name)
    components.append(pusher)
    tflite = config.tflite
    if tflite.variants:
        components.append(
            TFLiteExporter(
                model=trainer.outputs["model"],
                examples=example_gen.outputs["examples"],
                transform_graph=transform.outputs["transform_graph"],
                pushed_model=pusher.outputs["pushed_model"],
                push_root=push_root,
                variants=parameters.tflite_variants,
                representative_images=tflite.representative_images,
                qat_epochs=tflite.qat_epochs,
                qat_images=tflite.qat_images,
                qat_learning_rate=tflite.qat_learning_rate,
                batch_size=config.training.batch_size,
                max_drop_from_saved_model=tflite.max_drop_from_saved_model,
                latency_runs=tflite.latency_runs,
            )
        )
    return components


def create_pipeline(
    config: PipelineConfig, data_only: bool = False, cluster: ClusterBuild | None = None
) -> tfx_pipeline.Pipeline:
    """The pipeline as configured (or its data half); every runner and test builds it here.

    For a `cluster`: its pipeline root, run-time parameters, and no local metadata store
    (the orchestrator keeps its own).
    """
    parameters = runtime(config) if cluster else fixed(config)
    data = data_components(config, parameters, cluster=cluster is not None)
    components = list(data.components)
    if not data_only:
        components += model_components(config, data, parameters, cluster)
    return tfx_pipeline.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=cluster.pipeline_root if cluster else config.pipeline_root,
        components=components,
        enable_cache=config.enable_cache,
        metadata_connection_config=None
        if cluster
        else metadata.sqlite_metadata_connection_config(config.metadata_path),
        beam_pipeline_args=list(config.beam_args),
    )
