"""DataValidationReport: one HTML page per run with every anomaly found."""

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import Channel, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from signpipe.components.artifacts import DataReport
from signpipe.components.data_validation_report import executor


class DataValidationReportSpec(ComponentSpec):
    """Inputs are the data half's artifacts; parameters are the project's own checks."""

    PARAMETERS = {
        executor.MAX_CLASS_IMBALANCE_KEY: ExecutionParameter(type=float),
        executor.MIN_IMAGE_SIDE_KEY: ExecutionParameter(type=int),
        executor.MIN_IMAGES_PER_CLASS_KEY: ExecutionParameter(type=int),
        executor.MIN_HAND_DETECTION_RATE_KEY: ExecutionParameter(type=float),
        executor.SAMPLES_PER_CLASS_KEY: ExecutionParameter(type=int),
    }
    INPUTS = {
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "statistics": ChannelParameter(type=standard_artifacts.ExampleStatistics),
        "anomalies": ChannelParameter(type=standard_artifacts.ExampleAnomalies),
        "drift": ChannelParameter(type=standard_artifacts.ExampleAnomalies, optional=True),
        "baseline_statistics": ChannelParameter(
            type=standard_artifacts.ExampleStatistics, optional=True
        ),
    }
    OUTPUTS = {"report": ChannelParameter(type=DataReport)}


class DataValidationReport(base_component.BaseComponent):
    """Writes the data validation page and the findings the DataGate acts on.

    Besides TFDV's schema anomalies it checks class balance per split, classes missing
    from a split, classes with too few images to measure accuracy on (eval, test, folds),
    images smaller than a minimum side, splits where too few images have a hand found,
    and drift against the previous span.
    """

    SPEC_CLASS = DataValidationReportSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        examples: Channel,
        statistics: Channel,
        anomalies: Channel,
        max_class_imbalance: float = 5.0,
        min_image_side: int = 32,
        samples_per_class: int = 6,
        min_images_per_class: int = 5,
        min_hand_detection_rate: float = 0.1,
        drift: Channel | None = None,
        baseline_statistics: Channel | None = None,
    ):
        """Wire the report to ExampleGen, StatisticsGen and ExampleValidator outputs.

        With spans: `drift` from the SpanDriftValidator and the previous span's statistics.
        """
        super().__init__(
            spec=DataValidationReportSpec(
                examples=examples,
                statistics=statistics,
                anomalies=anomalies,
                drift=drift,
                baseline_statistics=baseline_statistics,
                max_class_imbalance=float(max_class_imbalance),
                min_image_side=int(min_image_side),
                min_images_per_class=int(min_images_per_class),
                min_hand_detection_rate=float(min_hand_detection_rate),
                samples_per_class=int(samples_per_class),
                report=Channel(type=DataReport),
            )
        )
