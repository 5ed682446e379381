"""Builds the signpipe TFX pipeline from a PipelineConfig."""

import tensorflow_data_validation as tfdv
from tfx.components import ExampleValidator, SchemaGen, StatisticsGen
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.orchestration import metadata
from tfx.orchestration import pipeline as tfx_pipeline

from signpipe.components.data_gate.component import DataGate
from signpipe.components.data_validation_report.component import DataValidationReport
from signpipe.components.image_folder_example_gen.component import ImageFolderExampleGen
from signpipe.pipeline.configs import PipelineConfig


def data_components(config: PipelineConfig) -> list:
    """ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> report -> gate."""
    data = config.data
    example_gen = ImageFolderExampleGen(
        data_root=config.data_root,
        split_ratios=data.split_ratios,
        group_regex=data.group_regex,
        group_folder_level=data.group_folder_level,
        pinned_groups=data.pinned_groups,
        split_seed=data.split_seed,
        span=data.span,
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
    validation = config.validation
    report = DataValidationReport(
        examples=example_gen.outputs["examples"],
        statistics=statistics_gen.outputs["statistics"],
        anomalies=example_validator.outputs["anomalies"],
        max_class_imbalance=validation.max_class_imbalance,
        min_image_side=validation.min_image_side,
        samples_per_class=validation.sample_images_per_class,
    )
    gate = DataGate(report=report.outputs["report"], fail_on_anomalies=validation.fail_on_anomalies)
    return [example_gen, statistics_gen, schema_gen, example_validator, report, gate]


def create_pipeline(config: PipelineConfig) -> tfx_pipeline.Pipeline:
    """The whole pipeline as configured; every runner and test builds it through here."""
    return tfx_pipeline.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=data_components(config),
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(config.metadata_path),
        beam_pipeline_args=config.beam_pipeline_args(),
    )
