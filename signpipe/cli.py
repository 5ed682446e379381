"""The `signpipe` command: run the pipeline, validate data, make demo data, export a schema."""

import argparse
import contextlib
import dataclasses
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence

from signpipe import kubeflow_commands, run_commands
from signpipe.cli_options import add_run_options, config_from_args
from signpipe.errors import ConfigError, SignpipeError
from signpipe.inference.serving_client import ServingOptions
from signpipe.pipeline.configs import DemoDataConfig

SERVING_DEFAULTS = ServingOptions(address="")  # the client's defaults are the CLI's


class _RunState:
    """Where progress lines go and what the CLI reports when a step fails."""

    def __init__(self):
        self.out = sys.stdout  # the terminal, also while the run's own output goes to a log
        self.log_path: str | None = None
        self.current: str | None = None  # the step that was running when the run stopped


@contextlib.contextmanager
def _output_to_log(state: _RunState, log_path: str) -> Iterator[None]:
    """Send everything written to stdout/stderr (TF, pip, Keras, Beam) to a log file.

    Redirected at the file-descriptor level so that subprocesses (the user-module wheel
    build) and C++ logging land there too; progress lines still reach the terminal.
    """
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    state.out = os.fdopen(os.dup(saved[0]), "w", buffering=1)
    state.log_path = log_path
    root = logging.getLogger()
    level = root.level
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        handler_levels = [(handler, handler.level) for handler in root.handlers]
        root.setLevel(logging.INFO)  # TFX's and Beam's own records, for the log file
        for handler, _ in handler_levels:
            handler.setLevel(logging.INFO)
        try:
            yield
        finally:
            root.setLevel(level)
            for handler, handler_level in handler_levels:
                handler.setLevel(handler_level)
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            state.out.close()
            state.out = sys.stdout


def _configure_logging(verbose: bool) -> None:
    """TFX and Beam logs on the terminal when verbose; otherwise only in the run's log file."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the CUDA-factory "errors" are noise
    handler = logging.StreamHandler()  # sys.stderr: the log file while a run is redirected
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    # Libraries that set their own logger levels (absl, TFMA) bypass the root level: the
    # handler's level keeps their warnings off the terminal too.
    handler.setLevel(logging.ERROR)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.ERROR)


def _run_pipeline(config, data_only: bool, state: _RunState, verbose: bool) -> None:
    from signpipe.pipeline import local_runner, progress_log
    from signpipe.runs.step_watcher import StepWatcher

    if config.uses_demo_data:
        from signpipe.data.synthetic_hands import SyntheticDataSpec, ensure_dataset

        demo = config.demo
        counts = ensure_dataset(
            config.data_root,
            SyntheticDataSpec(
                images_per_class=demo.images_per_class,
                signers=demo.signers,
                image_size=demo.image_size,
                seed=demo.seed,
            ),
        )
        print(f"Demo data (synthetic): {sum(counts.values())} images in {config.data_root}")
    print(f"Running pipeline '{config.pipeline_name}' on {config.data_root}")
    if verbose:
        local_runner.run(config, data_only=data_only)
        return
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_path = os.path.join(config.home, "logs", f"run-{stamp}.log")
    print(f"Full log: {log_path}")
    with _output_to_log(state, log_path):
        lines = progress_log.TerminalLines(state.out, state.out.isatty())
        steps = StepWatcher(config, lines)
        progress_log.LOGGER.addHandler(lines)
        try:
            with steps:
                local_runner.run(config, data_only=data_only)
        finally:
            progress_log.LOGGER.removeHandler(lines)
            state.current = steps.current


def _print_summary(config, run, data_only: bool) -> None:
    """The run's data and model summaries, both from the one run record."""
    from signpipe.runs.summaries import data_summary, model_summary

    print(data_summary(config, run).describe())
    if data_only:
        return
    if config.data.folds:
        from signpipe.runs.fold_results import fold_results, json_path

        print(fold_results(run).describe())
        print(f"Cross-validation results: {json_path(config, run.run_id)}")
        return
    print(model_summary(config, run).describe())


def cmd_run(args: argparse.Namespace) -> None:
    """signpipe run / signpipe validate ROOT."""
    from signpipe.runs.history import find_run

    config = config_from_args(args, args.data_root)
    started = time.time()
    try:
        _run_pipeline(config, args.data_only, args.state, args.verbose)
    finally:
        run = _write_report(config, started)
    _print_summary(config, run or find_run(config), args.data_only)


def _write_report(config, started: float):
    """Write this run's report (failed runs too) and return its record; None if it never began."""
    from signpipe.runs.history import list_runs
    from signpipe.runs.report.page import write_report

    runs = list_runs(config)
    if not runs or runs[0].started.timestamp() < started - 1:
        return None
    try:
        print(f"Run report: {write_report(config, runs[0].run_id, runs)}")
    except Exception as err:  # the run's own outcome matters more than its report
        print(f"signpipe: warning: the run report could not be written: {err}", file=sys.stderr)
    return runs[0]


def cmd_demo_data(args: argparse.Namespace) -> None:
    """signpipe demo-data."""
    from signpipe.data.synthetic_hands import SyntheticDataSpec, generate_dataset

    spec = SyntheticDataSpec(
        images_per_class=args.images_per_class,
        signers=args.signers,
        image_size=args.image_size,
        seed=args.seed,
    )
    counts = generate_dataset(args.out, spec)
    print(f"Wrote {sum(counts.values())} synthetic images in {len(counts)} classes to {args.out}")


def cmd_schema(args: argparse.Namespace) -> None:
    """signpipe schema."""
    from signpipe.runs.summaries import export_schema

    config = config_from_args(args)
    path = export_schema(config, args.out)
    print(f"Wrote the inferred schema to {path}; curate it and pass it with --schema {path}")


def cmd_predict(args: argparse.Namespace) -> None:
    """signpipe predict (--tflite FILE | --model-dir DIR | --server HOST:PORT) IMAGE..."""
    from signpipe.inference.predict import (
        as_json,
        predict_saved_model,
        predict_server,
        predict_tflite,
    )

    if not 0 < args.hand_min_confidence <= 1:
        raise ConfigError(
            f"--hand-min-confidence must be above 0 and at most 1; got {args.hand_min_confidence}"
        )
    if args.tflite:
        predictions = predict_tflite(
            args.tflite, args.images, args.labels, args.threads, args.hand_min_confidence
        )
    elif args.model_dir:
        predictions = predict_saved_model(
            args.model_dir, args.images, args.batch_size, args.hand_min_confidence
        )
    else:
        options = ServingOptions(
            address=args.server,
            model_name=args.model_name,
            version=args.model_version,
            rest=args.rest,
            timeout=args.timeout,
            retries=args.retries,
            batch_size=args.batch_size,
            hand_min_confidence=args.hand_min_confidence,
        )
        predictions = predict_server(options, args.images)
    if args.json:
        print(as_json(predictions))
    else:
        print("\n".join(p.line() for p in predictions))
    failed = [p.image for p in predictions if p.error]
    if failed:
        raise SignpipeError(f"{len(failed)} of {len(predictions)} image(s) could not be classified")


def cmd_explain(args: argparse.Namespace) -> None:
    """signpipe explain --model-dir DIR IMAGE..."""
    from signpipe.inference.explain import explain_files

    explanations = explain_files(
        args.model_dir, args.images, args.out, args.steps, overwrite=args.overwrite
    )
    print("\n".join(e.line() for e in explanations))
    failed = [e for e in explanations if e.error]
    if failed:
        raise SignpipeError(f"{len(failed)} of {len(explanations)} image(s) could not be explained")


def _add_predict_options(predict: argparse.ArgumentParser) -> None:
    """Where the model is (one of three) and how to reach it."""
    model = predict.add_mutually_exclusive_group(required=True)
    model.add_argument("--tflite", metavar="FILE", help="a .tflite variant the pipeline pushed")
    model.add_argument(
        "--model-dir",
        metavar="DIR",
        help="a pushed SavedModel version folder, or the model folder (newest version)",
    )
    model.add_argument(
        "--server", metavar="HOST:PORT", help="TF Serving: gRPC port (8500), or REST with --rest"
    )
    predict.add_argument("--rest", action="store_true", help="with --server: use the REST API")
    predict.add_argument("--model-name", default=SERVING_DEFAULTS.model_name, help="with --server")
    predict.add_argument(
        "--model-version", type=int, metavar="N", help="with --server: default the newest served"
    )
    predict.add_argument(
        "--timeout", type=float, default=SERVING_DEFAULTS.timeout, help="seconds per request"
    )
    predict.add_argument(
        "--retries",
        type=int,
        default=SERVING_DEFAULTS.retries,
        help="retries while the server is unavailable",
    )
    predict.add_argument(
        "--batch-size", type=int, default=SERVING_DEFAULTS.batch_size, help="images per request"
    )
    predict.add_argument("--labels", metavar="FILE", help="with --tflite: default labels.txt")
    predict.add_argument("--threads", type=int, default=1, help="with --tflite: threads")
    predict.add_argument(
        "--hand-min-confidence",
        type=float,
        default=SERVING_DEFAULTS.hand_min_confidence,
        metavar="P",
        help="MediaPipe's palm detection threshold, as data.hand_min_confidence at ingestion "
        "(default %(default)s)",
    )
    predict.add_argument("--json", action="store_true", help="JSON output for machines")
    predict.add_argument("images", metavar="IMAGE", nargs="+")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every sub-command."""
    parser = argparse.ArgumentParser(
        prog="signpipe",
        description="TFX pipeline from folders of hand-sign images (one folder per class) "
        "to validated data, a blessed model in a TF Serving model directory and TFLite "
        "models for phones. Runs locally under Apache Beam, or compiled for Kubeflow.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run the whole pipeline (generates and uses demo data when no --data-root)",
        description="Run the pipeline under TFX's local runner. With no --data-root it "
        "generates a small synthetic demo set under --home and runs on it. Steps whose "
        "inputs and code did not change are reused from the cache.",
    )
    run.add_argument("--data-root", metavar="DIR", help="<DIR>/<label>/<image>; may contain {SPAN}")
    add_run_options(run)
    run.set_defaults(func=cmd_run, data_only=False)

    validate = commands.add_parser(
        "validate",
        help="ingest and validate a data folder only; prints where the report is",
        description="Run only the data half: ExampleGen, StatisticsGen, SchemaGen, "
        "ExampleValidator, the drift check against the previous span (with {SPAN}), the "
        "data validation report and DataGate. Exits 1 when the data has anomalies (unless "
        "--allow-anomalies).",
    )
    validate.add_argument(
        "data_root", metavar="ROOT", help="<ROOT>/<label>/<image>; may contain {SPAN}"
    )
    add_run_options(validate)
    validate.set_defaults(func=cmd_run, data_only=True)

    demo = commands.add_parser(
        "demo-data",
        help="write the synthetic demo image set",
        description="Write a deterministic synthetic set of drawn hand shapes, one finger "
        "configuration per LSE letter, in the one-folder-per-class layout.",
    )
    demo.add_argument("--out", default="demo_data", help="output folder (default: ./demo_data)")
    for field in dataclasses.fields(DemoDataConfig):
        demo.add_argument(f"--{field.name.replace('_', '-')}", type=int, default=field.default)
    demo.set_defaults(func=cmd_demo_data)

    schema = commands.add_parser(
        "schema",
        help="write the schema inferred by the last run to schemas/ for curation",
        description="Copy the schema SchemaGen inferred in the latest run to a file you "
        "can edit and pass back with --schema (ImportSchemaGen).",
    )
    schema.add_argument(
        "--out", default="schemas/schema.pbtxt", help="default: schemas/schema.pbtxt"
    )
    add_run_options(schema)
    schema.set_defaults(func=cmd_schema)

    predict = commands.add_parser(
        "predict",
        help="classify image files with a TFLite file, a SavedModel or a TF Serving server",
        description="Classify image files with a model the pipeline pushed: a TFLite file, "
        "the SavedModel in this process, or TF Serving over gRPC or REST. An image that "
        "cannot be read or decoded is reported and the others are still classified "
        "(exit code 1).",
    )
    _add_predict_options(predict)
    predict.set_defaults(func=cmd_predict)

    explain = commands.add_parser(
        "explain",
        help="show how a pushed model answered: each branch's vote, the hand's joints and "
        "the pixels that moved it",
        description="Classify each image with a pushed SavedModel and write "
        "<out>/<name>.explained.png, <name> the file's stem after as many of its folders as "
        "tell it apart from the other images given (T__0_r for T/0_r.jpg beside O/0_r.jpg). "
        "The title gives the answer and each branch's own answer and share in it; then the "
        "image the model saw, the hand's 21 landmarks with each joint coloured by its "
        "integrated-gradients attribution (from the training mean hand), the image's "
        "integrated-gradients map (from a black image) and its Grad-CAM map.",
    )
    explain.add_argument(
        "--model-dir", required=True, metavar="DIR", help="a pushed version folder or its parent"
    )
    explain.add_argument("--out", default="explanations", help="default: ./explanations")
    explain.add_argument(
        "--steps", type=int, default=32, help="integrated-gradients steps of the image map"
    )
    explain.add_argument(
        "--overwrite",
        action="store_true",
        help="replace explanations an earlier call wrote; without, an existing one stops the "
        "call before anything is written",
    )
    explain.add_argument("images", metavar="IMAGE", nargs="+")
    explain.set_defaults(func=cmd_explain)
    kubeflow_commands.add_parsers(commands)
    run_commands.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    _configure_logging(verbose)
    state = args.state = _RunState()
    try:
        args.func(args)
    except SignpipeError as err:
        step = f"{state.current}: " if state.current else ""
        print(f"signpipe: error: {step}{err}", file=sys.stderr)
        return 1
    except Exception as err:
        if verbose or state.current is None:
            raise
        print(
            f"signpipe: error: step {state.current} failed: {type(err).__name__}: {err}\n"
            "The metadata store is intact: fix the cause and run again, finished steps are "
            f"reused from the cache. The full log is {state.log_path}.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
