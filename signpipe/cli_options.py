"""Options shared by the commands that build the pipeline, and the config they make."""

import argparse

from signpipe.errors import ConfigError


def pairs(text: str, what: str) -> dict[str, str]:
    """Parse `a=1,b=2` into a dict, naming the option when it is malformed."""
    pairs = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{what} expects NAME=VALUE[,NAME=VALUE...]; got '{text}'")
        pairs[key.strip()] = value.strip()
    return pairs


def split_ratios(text: str | None) -> dict[str, float] | None:
    if text is None:
        return None
    try:
        return {name: float(value) for name, value in pairs(text, "--split").items()}
    except ValueError:
        raise ConfigError(
            f"--split ratios must be numbers, e.g. train=0.7,eval=0.15; got '{text}'"
        ) from None


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by every command that runs the pipeline."""
    parser.add_argument("--config", metavar="FILE", help="JSON or YAML run configuration")
    parser.add_argument(
        "--home",
        metavar="DIR",
        help="pipeline root, metadata store and demo data (default: ./signpipe_home)",
    )
    parser.add_argument(
        "--split",
        metavar="RATIOS",
        help="split ratios, e.g. train=0.7,eval=0.15,test=0.15 (train and eval are required)",
    )
    parser.add_argument(
        "--group-regex",
        metavar="REGEX",
        help="group key from the file name (first capture group), e.g. '^(hand\\d+)_'; "
        "all images of one group land in one split",
    )
    parser.add_argument(
        "--group-folder-level",
        type=int,
        metavar="N",
        help="group key from the N-th sub-folder below each class folder",
    )
    parser.add_argument(
        "--pin", metavar="GROUP=SPLIT", help="put named groups in given splits, e.g. hand5=test"
    )
    parser.add_argument(
        "--test-groups",
        metavar="A,B",
        help="hold these groups, whole, out as the test split; the rest is split train/eval",
    )
    parser.add_argument(
        "--train-eval-by-group",
        action="store_true",
        default=None,
        help="with --test-groups: split the other groups train/eval by group, not by image",
    )
    parser.add_argument(
        "--folds",
        metavar="K|loo",
        help="cross-validation: whole groups in K folds, or loo (one fold per group); "
        "one model per fold, measured on its held-out fold, nothing pushed",
    )
    parser.add_argument("--span", type=int, help="with {SPAN} in the data root: ingest this span")
    parser.add_argument(
        "--schema", metavar="FILE", help="curated schema.pbtxt instead of inferring one"
    )
    parser.add_argument(
        "--allow-anomalies",
        action="store_true",
        help="report data anomalies as warnings instead of stopping the run",
    )
    parser.add_argument("--no-cache", action="store_true", help="re-run every step")
    parser.add_argument(
        "--beam-arg",
        action="append",
        metavar="ARG",
        help="Beam pipeline arg for every Beam step (repeatable), "
        "e.g. --beam-arg=--runner=DataflowRunner",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show TFX and Beam logs")


def config_from_args(args: argparse.Namespace, data_root: str | None = None):
    from signpipe.pipeline.configs import load_config

    return load_config(
        args.config,
        **{
            "home": args.home,
            "data.data_root": data_root,
            "data.split_ratios": split_ratios(args.split),
            "data.group_regex": args.group_regex,
            "data.group_folder_level": args.group_folder_level,
            "data.pinned_groups": pairs(args.pin, "--pin") if args.pin else None,
            "data.test_groups": [g.strip() for g in args.test_groups.split(",") if g.strip()]
            if args.test_groups
            else None,
            "data.train_eval_by_group": args.train_eval_by_group,
            "data.folds": args.folds,
            "data.span": args.span,
            "validation.schema_path": args.schema,
            "validation.fail_on_anomalies": False if args.allow_anomalies else None,
            "enable_cache": False if args.no_cache else None,
            "beam_args": args.beam_arg,
        },
    )
