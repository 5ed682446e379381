"""`signpipe compile` and `signpipe schedule`: the pipeline on Kubeflow Pipelines."""

import argparse

from signpipe.cli_options import add_run_options, config_from_args, pairs
from signpipe.errors import ConfigError


def cmd_compile(args: argparse.Namespace) -> None:
    """signpipe compile --target kubeflow --image IMAGE --pipeline-root URI."""
    from signpipe.pipeline.kubeflow_v2_runner import compile_pipeline

    config = config_from_args(args, args.data_root)
    path = compile_pipeline(config, args.image, args.pipeline_root, args.output, args.target)
    print(
        f"Wrote the Kubeflow V2 pipeline to {path}; schedule it with "
        f"`signpipe schedule --host URL --cron EXPR --package {path}`"
    )


def cmd_schedule(args: argparse.Namespace) -> None:
    """signpipe schedule [create|list|delete] --host URL ..."""
    from signpipe.pipeline import kubeflow_schedule

    if args.action == "list":
        schedules = kubeflow_schedule.list_schedules(args.host, args.experiment, args.namespace)
        print("\n".join(s.line() for s in schedules) or f"No recurring runs on {args.host}")
        return
    if args.action == "delete":
        if not args.schedule_id:
            raise ConfigError(
                "schedule delete needs the schedule id (see `signpipe schedule list`)"
            )
        kubeflow_schedule.delete_schedule(args.host, args.schedule_id, args.namespace)
        print(f"Deleted schedule {args.schedule_id} on {args.host}")
        return
    if not args.cron:
        raise ConfigError("schedule needs --cron, e.g. --cron '0 3 * * *' for daily at 03:00")
    schedule = kubeflow_schedule.create_schedule(
        args.host,
        args.package,
        args.cron,
        args.experiment or args.name,
        args.name,
        pairs(args.param, "--param") if args.param else None,
        args.namespace,
    )
    print(f"Scheduled on {args.host}: {schedule.line()}")


def add_parsers(commands) -> None:
    """`compile` and `schedule`: the pipeline on Kubeflow Pipelines."""
    from signpipe.pipeline.kubeflow_v2_runner import DEFAULT_OUTPUT, TARGETS

    compile_ = commands.add_parser(
        "compile",
        help="compile the pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines",
        description="Compile the same pipeline a local run builds with TFX's KubeflowV2DagRunner: "
        "a PipelineJob JSON (Vertex AI), or a PipelineSpec YAML (open-source KFP) when --output "
        "ends in .yaml. data_root, head_epochs, finetune_epochs, accuracy_floor and "
        "tflite_variants are run-time parameters defaulting to the configuration.",
    )
    compile_.add_argument(
        "--target",
        choices=TARGETS,
        default=TARGETS[0],
        help="kubeflow: open-source KFP (the LatestBlessedModel step finds the baseline; "
        "it and ingestion are never cached); vertex: Vertex AI Pipelines (TFX's "
        "latest-blessed-model resolver finds it). Both compare with the latest blessed model",
    )
    compile_.add_argument("--image", required=True, help="the signpipe image (see Dockerfile)")
    compile_.add_argument(
        "--pipeline-root", required=True, metavar="URI", help="e.g. gs://bucket/signpipe"
    )
    compile_.add_argument(
        "--output", default=DEFAULT_OUTPUT, metavar="FILE", help=f"default: {DEFAULT_OUTPUT}"
    )
    compile_.add_argument("--data-root", metavar="URI", help="images the cluster can read")
    add_run_options(compile_)
    compile_.set_defaults(func=cmd_compile)

    schedule = commands.add_parser(
        "schedule",
        help="recurring runs on Kubeflow Pipelines: create (default), list, delete",
        description="Upload the compiled pipeline and create a recurring run, or list or "
        "delete recurring runs, through the kfp SDK.",
    )
    schedule.add_argument(
        "action", nargs="?", choices=["create", "list", "delete"], default="create"
    )
    schedule.add_argument("schedule_id", nargs="?", metavar="ID", help="for delete")
    schedule.add_argument("--host", required=True, metavar="URL", help="the KFP API endpoint")
    schedule.add_argument("--cron", metavar="EXPR", help="e.g. '0 3 * * *' (daily at 03:00)")
    schedule.add_argument("--experiment", metavar="NAME", help="default: the pipeline name")
    schedule.add_argument("--name", default="signpipe", help="pipeline and schedule name")
    schedule.add_argument(
        "--package", default=DEFAULT_OUTPUT, metavar="FILE", help="the compiled pipeline"
    )
    schedule.add_argument(
        "--param", metavar="NAME=VALUE", help="run-time parameters, e.g. head_epochs=3"
    )
    schedule.add_argument("--namespace", help="multi-user KFP: your namespace")
    schedule.set_defaults(func=cmd_schedule)
