"""Executor: TFX's DistributionValidator, recording which span was the baseline."""

from typing import Any

from tfx.components.distribution_validator import executor as tfx_executor
from tfx.types import artifact_utils, standard_component_specs

from signpipe.components.artifacts import BASELINE_SPAN_PROPERTY


class Executor(tfx_executor.Executor):
    """Runs TFDV's comparators split by split; notes the baseline span on the output."""

    def Do(
        self,
        input_dict: dict[str, list[Any]],
        output_dict: dict[str, list[Any]],
        exec_properties: dict[str, Any],
    ):
        """Validate, then set `baseline_span` on the anomalies artifact."""
        result = super().Do(input_dict, output_dict, exec_properties)
        baseline = input_dict.get(standard_component_specs.BASELINE_STATISTICS_KEY) or []
        anomalies = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.ANOMALIES_KEY]
        )
        anomalies.set_int_custom_property(
            BASELINE_SPAN_PROPERTY, baseline[0].span if baseline else -1
        )
        if not baseline:
            anomalies.split_names = artifact_utils.encode_split_names([])
        # TFX's executor returns the output artifacts it saw: carry the property over.
        for stored in result.output_artifacts[standard_component_specs.ANOMALIES_KEY].artifacts:
            stored.CopyFrom(anomalies.mlmd_artifact)
        return result
