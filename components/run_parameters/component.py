"""TFX's Trainer and Evaluator with run-time parameters for the epochs and accuracy floor.

Kubeflow compiles a RuntimeParameter only as a whole execution property, and the stock
components keep these values inside `custom_config` and `eval_config`. These subclasses add
them as properties of their own; their executors fold them back in before running TFX's.
"""

import tensorflow_model_analysis as tfma
from tfx import types
from tfx.components import Evaluator, Trainer
from tfx.components.util import udf_utils
from tfx.dsl.components.base import base_beam_component, base_component, executor_spec
from tfx.orchestration import data_types
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import json_utils

from signpipe.components.run_parameters import executor

IntParameter = int | data_types.RuntimeParameter | None
FloatParameter = float | data_types.RuntimeParameter | None


class ParameterizedTrainerSpec(standard_component_specs.TrainerSpec):
    """The Trainer's spec plus the two training phases' epochs."""

    PARAMETERS = {
        **standard_component_specs.TrainerSpec.PARAMETERS,
        executor.HEAD_EPOCHS_KEY: ExecutionParameter(type=int, optional=True),
        executor.FINETUNE_EPOCHS_KEY: ExecutionParameter(type=int, optional=True),
    }


class ParameterizedTrainer(Trainer):
    """TFX's Trainer (run_fn in a module file or named); epochs can be set per run."""

    SPEC_CLASS = ParameterizedTrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.TrainerExecutor)

    def __init__(
        self,
        examples: types.BaseChannel,
        transform_graph: types.BaseChannel,
        schema: types.BaseChannel,
        train_args: trainer_pb2.TrainArgs,
        eval_args: trainer_pb2.EvalArgs,
        custom_config: dict,
        module_file: str | None = None,
        run_fn: str | None = None,
        head_epochs: IntParameter = None,
        finetune_epochs: IntParameter = None,
    ):
        """Wire the Trainer; `head_epochs`/`finetune_epochs` override `custom_config`'s."""
        spec = ParameterizedTrainerSpec(
            examples=examples,
            transform_graph=transform_graph,
            schema=schema,
            train_args=train_args,
            eval_args=eval_args,
            module_file=module_file,
            run_fn=run_fn,
            custom_config=json_utils.dumps(custom_config),
            head_epochs=head_epochs,
            finetune_epochs=finetune_epochs,
            model=types.Channel(type=standard_artifacts.Model),
            model_run=types.Channel(type=standard_artifacts.ModelRun),
        )
        # Trainer.__init__ builds the stock spec; the base class takes ours.
        base_component.BaseComponent.__init__(self, spec=spec)
        if module_file and udf_utils.should_package_user_modules():
            udf_utils.add_user_module_dependency(
                self,
                standard_component_specs.MODULE_FILE_KEY,
                standard_component_specs.MODULE_PATH_KEY,
            )


class GatedEvaluatorSpec(standard_component_specs.EvaluatorSpec):
    """The Evaluator's spec plus the accuracy floor that blesses a model."""

    PARAMETERS = {
        **standard_component_specs.EvaluatorSpec.PARAMETERS,
        executor.ACCURACY_FLOOR_KEY: ExecutionParameter(type=float, optional=True),
    }


class GatedEvaluator(Evaluator):
    """TFX's Evaluator; the accuracy floor in `eval_config` can be set per run."""

    SPEC_CLASS = GatedEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.EvaluatorExecutor)

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
