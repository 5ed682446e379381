"""`signpipe report` and `signpipe runs`: a run's HTML report and the run history."""

import argparse

from signpipe.cli_options import add_run_options, config_from_args
from signpipe.errors import ConfigError


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _blessed(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def cmd_report(args: argparse.Namespace) -> None:
    """signpipe report [RUN]."""
    from signpipe.runs.report.page import write_report

    print(f"Run report: {write_report(config_from_args(args), args.run)}")


def cmd_runs(args: argparse.Namespace) -> None:
    """signpipe runs list | show RUN | compare A B."""
    from signpipe.runs import history as run_history

    config = config_from_args(args)
    if args.action == "list":
        runs = run_history.list_runs(config)[: args.limit]
        if not runs:
            print(f"No runs in {config.metadata_path}")
            return
        print(
            f"{'run id':<27} {'started (UTC)':<19} {'time':>6}  {'status':<11} "
            f"{'test':>6}  blessed  pushed     steps (+ ran, = cached, X failed, ! died)"
        )
        for run in runs:
            pushed = run.pushed[0] if run.pushed else "-"
            print(
                f"{run.run_id:<27} {run.started:%Y-%m-%d %H:%M:%S} {run.seconds:>5.0f}s  "
                f"{run.status:<11} {_test_accuracy(run):>6}  "
                f"{_blessed(run.blessed):<7}  {pushed:<10} {run.marks()}{_died_in(run)}"
            )
        return
    if args.action == "show":
        _show(config, run_history.find_run(config, _one(args, 1)))
        return
    runs = run_history.list_runs(config)
    first, second = (run_history.find_run(config, run_id, runs) for run_id in _one(args, 2))
    _compare(first, second)


def _died_in(run) -> str:
    """`  died in STEP` for an interrupted run, else nothing."""
    return f"  died in {', '.join(run.died_in)}" if run.died_in else ""


def _test_accuracy(run) -> str:
    """The test accuracy, or a cross-validation run's mean over folds (marked cv)."""
    from signpipe.runs.fold_results import fold_results

    folds = fold_results(run)
    if folds is None:
        return _percent(run.accuracy("TestEvaluator"))
    return "-" if folds.mean is None else f"cv {folds.mean:.0%}"


def _one(args: argparse.Namespace, count: int):
    if len(args.runs) != count:
        raise ConfigError(f"runs {args.action} takes {count} run id(s); see `signpipe runs list`")
    return args.runs[0] if count == 1 else args.runs


def _show(config, run) -> None:
    import os

    from signpipe.runs.history import report_path

    print(
        f"run {run.run_id}: {run.status}, started {run.started:%Y-%m-%d %H:%M:%S} UTC, "
        f"{run.seconds:.0f} s"
    )
    if run.died_in:
        print(
            f"its process died during {', '.join(run.died_in)} (no run holds the home's run "
            "lock): run again, finished steps are reused from the cache"
        )
    for step in run.steps:
        state = "DIED" if step.component in run.died_in else step.state
        print(f"  {step.component:<28} {state:<9} {step.seconds:>7.1f} s")
    from signpipe.runs.fold_results import fold_results, json_path

    folds = fold_results(run)
    if folds is not None:
        print(folds.describe())
        print(f"results as JSON: {json_path(config, run.run_id)}")
    else:
        print(
            f"eval accuracy {_percent(run.accuracy('Evaluator'))}, "
            f"test accuracy {_percent(run.accuracy('TestEvaluator'))}, "
            f"blessed {_blessed(run.blessed)}"
        )
    if run.pushed:
        print(f"pushed version {run.pushed[0]} to {run.pushed[1]}")
    report = report_path(config, run.run_id)
    print(
        f"report: {report}"
        if os.path.exists(report)
        else f"report: none yet; write it with `signpipe report {run.run_id}`"
    )


def _compare(first, second) -> None:
    from signpipe.runs.history import property_differences

    print(f"A = {first.run_id}\nB = {second.run_id}")
    print("Metrics:")
    for name, component in (("eval accuracy", "Evaluator"), ("test accuracy", "TestEvaluator")):
        a, b = first.accuracy(component), second.accuracy(component)
        change = f" ({b - a:+.1%})" if a is not None and b is not None else ""
        print(f"  {name:<14} {_percent(a):>7} -> {_percent(b):>7}{change}")
    print(f"  {'blessed':<14} {_blessed(first.blessed):>7} -> {_blessed(second.blessed):>7}")
    print(f"  {'duration':<14} {first.seconds:>6.0f}s -> {second.seconds:>6.0f}s")
    differences = property_differences(first, second)
    print("Configuration:" if differences else "Configuration: no differences")
    for key, a, b in differences:
        print(f"  {key}: {a!r} -> {b!r}")


def add_parsers(commands) -> None:
    """`report` and `runs`."""
    report = commands.add_parser(
        "report",
        help="write the HTML report of a run (default: the newest)",
        description="Write one self-contained HTML page for a run: data, training curves, "
        "evaluation, TFLite variants and outcome. `signpipe run` writes it at the end.",
    )
    report.add_argument("run", nargs="?", metavar="RUN", help="a run id or a unique prefix")
    add_run_options(report)
    report.set_defaults(func=cmd_report)

    runs = commands.add_parser(
        "runs",
        help="past runs from the metadata store: list, show RUN, compare A B",
        description="Read the run history from ML Metadata. list: one line per run, its "
        "status COMPLETE, FAILED, RUNNING or INTERRUPTED (its process died: no run holds "
        "the home's run lock) and where it died; show: the steps, metrics and report path "
        "of one run; compare: metric and configuration differences between two runs.",
    )
    runs.add_argument("action", choices=["list", "show", "compare"])
    runs.add_argument("runs", nargs="*", metavar="RUN", help="run ids or unique prefixes")
    runs.add_argument("--limit", type=int, default=20, help="list: the newest N runs")
    add_run_options(runs)
    runs.set_defaults(func=cmd_runs)
