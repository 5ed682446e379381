"""Cross-validation by group: one Trainer and one Evaluator per fold, sharing the data half."""

import dataclasses

from tfx.proto import trainer_pb2

from signpipe.components.evaluation import eval_config
from signpipe.components.gated_evaluator.component import GatedEvaluator
from signpipe.components.image_folder_example_gen.data_root import data_root_groups
from signpipe.components.parameterized_trainer.component import ParameterizedTrainer
from signpipe.components.split_names import (
    EVAL,
    TEST,
    TRAIN,
    fold_name,
    fold_split,
)
from signpipe.errors import ConfigError
from signpipe.pipeline.configs import LEAVE_ONE_GROUP_OUT, PipelineConfig
from signpipe.pipeline.run_parameters import RunParameters

TRAINER_PREFIX = "Trainer_"
EVALUATOR_PREFIX = "Evaluator_"


def fold_count(config: PipelineConfig) -> int:
    """The configured number of folds; for leave-one-group-out, the groups found in the data.

    The pipeline's shape depends on it, so `loo` counts the groups when the pipeline is
    built or compiled; ingestion stops if the data then holds fewer groups.
    """
    data = config.data
    if data.folds != LEAVE_ONE_GROUP_OUT:
        return int(data.folds or 0)
    groups = data_root_groups(config.data_root, data.group_regex, data.group_folder_level)
    if len(groups) < 2:
        raise ConfigError(
            f"--folds {LEAVE_ONE_GROUP_OUT} needs 2 or more groups; '{config.data_root}' has "
            f"{groups or 'none'}: check data.group_regex or data.group_folder_level"
        )
    return len(groups)


def fold_splits(folds: int, held_out: int) -> dict[str, list[str]]:
    """Which splits train, evaluate (early stopping) and test the model of one fold."""
    others = [fold_name(i) for i in range(folds) if i != held_out]
    fold = fold_name(held_out)
    return {
        TRAIN: [fold_split(name, TRAIN) for name in others],
        EVAL: [fold_split(name, EVAL) for name in others],
        TEST: [fold_split(fold, TRAIN), fold_split(fold, EVAL)],
    }


def fold_components(
    config: PipelineConfig,
    folds: int,
    example_gen,
    schema_gen,
    transform,
    parameters: RunParameters,
    module: dict,
) -> list:
    """A Trainer and an Evaluator on its held-out fold, per fold; the branches are independent.

    The held-out fold's evaluation carries no threshold: a cross-validation run measures,
    it blesses and pushes nothing.
    """
    components = []
    for index in range(folds):
        fold = fold_name(index)
        splits = fold_splits(folds, index)
        trainer = ParameterizedTrainer(
            examples=example_gen.outputs["examples"],
            transform_graph=transform.outputs["transform_graph"],
            schema=schema_gen.outputs["schema"],
            train_args=trainer_pb2.TrainArgs(splits=splits[TRAIN]),
            eval_args=trainer_pb2.EvalArgs(splits=splits[EVAL]),
            custom_config=dataclasses.asdict(config.training),
            head_epochs=parameters.head_epochs,
            finetune_epochs=parameters.finetune_epochs,
            **module,
        ).with_id(f"{TRAINER_PREFIX}{fold}")
        evaluator = GatedEvaluator(
            examples=example_gen.outputs["examples"],
            model=trainer.outputs["model"],
            eval_config=eval_config(None),
            example_splits=splits[TEST],
        ).with_id(f"{EVALUATOR_PREFIX}{fold}")
        components += [trainer, evaluator]
    return components
