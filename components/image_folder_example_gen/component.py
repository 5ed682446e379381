"""ImageFolderExampleGen: a FileBasedExampleGen for `<root>/<label>/<image>` trees."""

import json
from collections.abc import Mapping, Sequence

from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.orchestration.data_types import RuntimeParameter
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import Channel, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from signpipe.components import split_names
from signpipe.components.image_folder_example_gen import executor, folder_layout
from signpipe.components.image_folder_example_gen.driver import ImageFolderDriver


class ImageFolderExampleGenSpec(ComponentSpec):
    """File-based ExampleGen parameters plus how to group and split images."""

    PARAMETERS = {
        **standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        executor.GROUP_REGEX_KEY: ExecutionParameter(type=str, optional=True),
        executor.GROUP_FOLDER_LEVEL_KEY: ExecutionParameter(type=int, optional=True),
        executor.PINNED_GROUPS_KEY: ExecutionParameter(type=str, optional=True),
        executor.SPLIT_SEED_KEY: ExecutionParameter(type=str, optional=True),
        executor.TEST_GROUPS_KEY: ExecutionParameter(type=str, optional=True),
        executor.TRAIN_EVAL_BY_GROUP_KEY: ExecutionParameter(type=int, optional=True),
        executor.FOLDS_KEY: ExecutionParameter(type=int, optional=True),
        executor.HAND_ANALYSIS_KEY: ExecutionParameter(type=int, optional=True),
        executor.HAND_MIN_CONFIDENCE_KEY: ExecutionParameter(type=float, optional=True),
        executor.RECORD_ORDER_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {}
    OUTPUTS = {
        standard_component_specs.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)
    }


def split_output_config(
    ratios: Mapping[str, float], test_groups: Sequence[str] = (), folds: int = 0
) -> example_gen_pb2.Output:
    """Output splits whose hash_buckets carry the split ratios in parts per thousand.

    Held-out test groups add a test split (its ratio, if any, is unused: the groups fill
    it); folds write each fold's train and eval part.
    """
    weights = {name: round(ratio * 1000) for name, ratio in ratios.items()}
    if folds:
        weights = {
            name: weights[name.rpartition("_")[2]] for name in split_names.fold_split_names(folds)
        }
    elif test_groups:
        weights.setdefault(split_names.TEST, 1)
    splits = [
        example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=weight)
        for name, weight in weights.items()
    ]
    return example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=splits))


class ImageFolderExampleGen(FileBasedExampleGen):
    """Reads labelled images, checks and measures each, and writes split tf.Examples.

    Splits are stratified by label, or made by group (signer, session) so that no group
    sits in two splits, or hold named groups out as the test split, or put whole groups
    into cross-validation folds. Bad files and duplicates are reported in `ingestion_report.json`
    inside the Examples artifact. A `{SPAN}` in the data root selects the latest span.

    A FileBasedExampleGen, so that Kubeflow V2 runs TFX's span-and-fingerprint driver
    before it: without it, a changed data folder would hit the cache.
    """

    SPEC_CLASS = ImageFolderExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
    DRIVER_CLASS = ImageFolderDriver

    def __init__(
        self,
        data_root: str | RuntimeParameter,
        split_ratios: Mapping[str, float],
        group_regex: str | None = None,
        group_folder_level: int | None = None,
        pinned_groups: Mapping[str, str] | None = None,
        split_seed: str = "signpipe",
        span: int | None = None,
        test_groups: Sequence[str] = (),
        train_eval_by_group: bool = False,
        folds: int = 0,
        hand_analysis: bool = True,
        hand_min_confidence: float = 0.5,
    ):
        """Configure ingestion of `data_root` into the given split ratios.

        A RuntimeParameter data root is the folder above the class (or `{SPAN}`) folders;
        its default may hold `{SPAN}` like a fixed one.
        """
        if isinstance(data_root, RuntimeParameter):
            base, pattern = folder_layout.split_data_root(data_root.default, group_folder_level)
            input_base = RuntimeParameter(name=data_root.name, ptype=str, default=base)
        else:
            input_base, pattern = folder_layout.split_data_root(data_root, group_folder_level)
        range_config = None
        if span is not None:
            range_config = range_config_pb2.RangeConfig(
                static_range=range_config_pb2.StaticRange(
                    start_span_number=span, end_span_number=span
                )
            )
        spec = ImageFolderExampleGenSpec(
            input_base=input_base,
            input_config=example_gen_pb2.Input(
                splits=[example_gen_pb2.Input.Split(name="images", pattern=pattern)]
            ),
            output_config=split_output_config(split_ratios, test_groups, folds),
            range_config=range_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            group_regex=group_regex,
            group_folder_level=group_folder_level,
            pinned_groups=json.dumps(dict(pinned_groups or {}), sort_keys=True),
            split_seed=split_seed,
            test_groups=json.dumps(list(test_groups)),
            train_eval_by_group=int(train_eval_by_group),
            folds=folds,
            hand_analysis=int(hand_analysis),
            hand_min_confidence=hand_min_confidence,
            record_order=executor.RECORD_ORDER,
            examples=Channel(type=standard_artifacts.Examples),
        )
        # FileBasedExampleGen.__init__ builds the stock spec; the base class takes ours.
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
