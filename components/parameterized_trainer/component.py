"""TFX's Trainer with run-time parameters for the epochs of its two phases.

Kubeflow compiles a RuntimeParameter only as a whole execution property, and the stock
Trainer keeps epochs inside `custom_config`. This subclass adds them as properties of its
own; its executor folds them back in before running TFX's.
"""

from tfx import types
from tfx.components import Trainer
from tfx.components.util import udf_utils
from tfx.dsl.components.base import base_component, executor_spec
from tfx.orchestration import data_types
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import json_utils

from signpipe.components.parameterized_trainer import executor

IntParameter = int | data_types.RuntimeParameter | None


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
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

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
