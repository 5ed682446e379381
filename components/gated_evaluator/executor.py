"""Executor that writes the run-time accuracy floor into the stock Evaluator's eval_config."""

from typing import Any

import tensorflow_model_analysis as tfma
from tfx.components.evaluator import executor as evaluator_executor
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from signpipe.components.artifacts import has_baseline
from signpipe.components.evaluation import with_accuracy_floor
from signpipe.errors import ConfigError

ACCURACY_FLOOR_KEY = "accuracy_floor"


def evaluator_properties(exec_properties: dict[str, Any]) -> dict[str, Any]:
    """The stock Evaluator's properties, with the accuracy floor written into eval_config."""
    properties = dict(exec_properties)
    floor = properties.pop(ACCURACY_FLOOR_KEY, None)
    if floor is None:
        return properties
    if not isinstance(floor, int | float) or not 0 <= floor <= 1:
        raise ConfigError(
            f"run-time parameter {ACCURACY_FLOOR_KEY} must be between 0 and 1; got {floor!r}"
        )
    key = standard_component_specs.EVAL_CONFIG_KEY
    eval_config = proto_utils.json_to_proto(properties[key], tfma.EvalConfig())
    properties[key] = proto_utils.proto_to_json(with_accuracy_floor(eval_config, float(floor)))
    return properties


def without_missing_baseline(input_dict: dict[str, list]) -> dict[str, list]:
    """The inputs, less a baseline the LatestBlessedModel step marked as not found."""
    key = standard_component_specs.BASELINE_MODEL_KEY
    baseline = input_dict.get(key)
    if baseline and not all(has_baseline(model) for model in baseline):
        return {name: value for name, value in input_dict.items() if name != key}
    return input_dict


class Executor(evaluator_executor.Executor):
    """TFX's Evaluator executor; `accuracy_floor` overrides the configured floor, and a
    first run's 'not found' baseline counts as none."""

    def Do(self, input_dict, output_dict, exec_properties: dict[str, Any]) -> None:
        """Evaluate against the run's floor and the baseline, if there is one."""
        super().Do(
            without_missing_baseline(input_dict),
            output_dict,
            evaluator_properties(exec_properties),
        )
