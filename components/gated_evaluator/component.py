"""TFX's Evaluator with a run-time parameter for the accuracy floor that blesses a model.

Kubeflow compiles a RuntimeParameter only as a whole execution property, and the stock
Evaluator keeps the floor inside `eval_config`. This subclass adds it as a property of its
own; its executor writes it into `eval_config` before running TFX's.
"""

import tensorflow_model_analysis as tfma
from tfx import types
from tfx.components import Evaluator
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.orchestration import data_types
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import json_utils

from signpipe.components.gated_evaluator import executor

FloatParameter = float | data_types.RuntimeParameter | None


class GatedEvaluatorSpec(standard_component_specs.EvaluatorSpec):
    """The Evaluator's spec plus the accuracy floor that blesses a model."""

    PARAMETERS = {
        **standard_component_specs.EvaluatorSpec.PARAMETERS,
        executor.ACCURACY_FLOOR_KEY: ExecutionParameter(type=float, optional=True),
    }


class GatedEvaluator(Evaluator):
    """TFX's Evaluator; the accuracy floor in `eval_config` can be set per run."""

    SPEC_CLASS = GatedEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        model: types.BaseChannel,
        eval_config: tfma.EvalConfig,
        example_splits: list[str],
        baseline_model: types.BaseChannel | None = None,
        accuracy_floor: FloatParameter = None,
    ):
        """Wire the Evaluator; `accuracy_floor` overrides the floor in `eval_config`."""
        spec = GatedEvaluatorSpec(
            examples=examples,
            model=model,
            baseline_model=baseline_model,
            eval_config=eval_config,
            example_splits=json_utils.dumps(example_splits),
            accuracy_floor=accuracy_floor,
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
        )
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
