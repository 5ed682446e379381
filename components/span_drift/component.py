"""SpanDriftValidator: TFX's DistributionValidator against the previous span, if there is one."""

from tensorflow_metadata.proto.v0 import path_pb2, schema_pb2
from tfx.components import DistributionValidator
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import distribution_validator_pb2
from tfx.types import Channel, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import json_utils

from signpipe.components.span_drift import executor
from signpipe.models import features

# The image facts ExampleGen measures, compared by Jensen-Shannon divergence.
IMAGE_FACTS = (
    features.BRIGHTNESS_KEY,
    features.SHARPNESS_KEY,
    features.WIDTH_KEY,
    features.HEIGHT_KEY,
    features.FILE_SIZE_KEY,
)


class SpanDriftSpec(standard_component_specs.DistributionValidatorSpec):
    """DistributionValidator's spec with the baseline optional: the first span has none."""

    INPUTS = {
        standard_component_specs.STATISTICS_KEY: ChannelParameter(
            type=standard_artifacts.ExampleStatistics
        ),
        standard_component_specs.BASELINE_STATISTICS_KEY: ChannelParameter(
            type=standard_artifacts.ExampleStatistics, optional=True
        ),
    }


def drift_config(
    label_linf: float, image_jsd: float
) -> distribution_validator_pb2.DistributionValidatorConfig:
    """L-infinity distance on the label distribution, Jensen-Shannon on each image fact."""
    config = distribution_validator_pb2.DistributionValidatorConfig()
    compared = config.default_slice_config.feature
    compared.add(
        path=path_pb2.Path(step=[features.LABEL_KEY]),
        distribution_comparator=schema_pb2.FeatureComparator(
            infinity_norm=schema_pb2.InfinityNorm(threshold=label_linf)
        ),
    )
    for name in IMAGE_FACTS:
        compared.add(
            path=path_pb2.Path(step=[name]),
            distribution_comparator=schema_pb2.FeatureComparator(
                jensen_shannon_divergence=schema_pb2.JensenShannonDivergence(threshold=image_jsd)
            ),
        )
    return config


class SpanDriftValidator(DistributionValidator):
    """Compares each split's statistics with the same split of the previous span.

    Over a threshold is an anomaly in the output, per split pair (`train_train`, ...). With
    no previous span the output holds no split pair and says so.
    """

    SPEC_CLASS = SpanDriftSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        statistics: Channel,
        baseline_statistics: Channel,
        label_linf: float,
        image_jsd: float,
        splits: list[str] | None = None,
    ):
        """Wire this span's statistics and the previous span's (possibly none).

        `splits`: compare only these splits with their namesakes (None: every shared split).
        """
        spec = SpanDriftSpec(
            statistics=statistics,
            baseline_statistics=baseline_statistics,
            include_split_pairs=json_utils.dumps([(s, s) for s in splits]) if splits else None,
            distribution_validator_config=drift_config(label_linf, image_jsd),
            anomalies=Channel(type=standard_artifacts.ExampleAnomalies),
        )
        # DistributionValidator.__init__ builds the stock spec; the base class takes ours.
        base_component.BaseComponent.__init__(self, spec=spec)
