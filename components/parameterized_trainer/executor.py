"""Executor that folds the run-time epoch parameters into the stock Trainer's custom_config."""

import json
from typing import Any

from tfx.components.trainer import executor as trainer_executor
from tfx.types import standard_component_specs

from signpipe.errors import ConfigError

HEAD_EPOCHS_KEY = "head_epochs"
FINETUNE_EPOCHS_KEY = "finetune_epochs"
EPOCH_KEYS = (HEAD_EPOCHS_KEY, FINETUNE_EPOCHS_KEY)


def trainer_properties(exec_properties: dict[str, Any]) -> dict[str, Any]:
    """The stock Trainer's properties, with any epoch parameter merged into custom_config."""
    properties = dict(exec_properties)
    overrides = {key: properties.pop(key, None) for key in EPOCH_KEYS}
    overrides = {key: value for key, value in overrides.items() if value is not None}
    for key, value in overrides.items():
        if not isinstance(value, int) or value < 0:
            raise ConfigError(
                f"run-time parameter {key} must be a whole number >= 0; got {value!r}"
            )
    if overrides:
        custom_config = json.loads(
            properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "{}"
        )
        properties[standard_component_specs.CUSTOM_CONFIG_KEY] = json.dumps(
            {**custom_config, **overrides}
        )
    return properties


class Executor(trainer_executor.GenericExecutor):
    """TFX's Trainer executor; `head_epochs`/`finetune_epochs` override the configured ones."""

    def Do(self, input_dict, output_dict, exec_properties: dict[str, Any]) -> None:
        """Train with the run's epochs."""
        super().Do(input_dict, output_dict, trainer_properties(exec_properties))
