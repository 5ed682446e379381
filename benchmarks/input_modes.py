"""Benchmark what the model sees: the hand crop, the hand's landmarks, or both, on held-out signers.

Runs the whole pipeline once per `training.inputs` in one pipeline home, so the data half
and Transform run once and the later modes reuse them from TFX's cache. Records per mode
the test accuracy (or every fold's, with data.folds), each component's wall time, and the
hand analysis: the share of images with a hand found and the time ExampleGen took.

    python benchmarks/input_modes.py [--data-root ../shared/datasets/asl_massey]
        [--modes both,image,landmarks] [--set data.folds='"loo"'] --out FILE.json
"""

import argparse
import contextlib
import tempfile
import time

from benchmark_setup import add_run_arguments, benchmark_config, config_overrides, write_result

import signpipe  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)


def main() -> None:
    """Run each input mode and write the figures side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(parser)
    parser.add_argument("--modes", default="both,image,landmarks")
    parser.add_argument(
        "--home", help="a pipeline home to run in and keep (its cached steps are reused)"
    )
    args = parser.parse_args()

    from signpipe.components import ingestion_report
    from signpipe.pipeline import local_runner
    from signpipe.runs.fold_results import fold_results
    from signpipe.runs.history import list_runs
    from signpipe.runs.store import latest_artifact, steps_after
    from signpipe.runs.summaries import model_summary

    overrides = config_overrides(args.set)
    modes: dict[str, dict] = {}
    with (
        contextlib.nullcontext(args.home)
        if args.home
        else tempfile.TemporaryDirectory(prefix="signpipe-bench-")
    ) as home:
        for mode in args.modes.split(","):
            config = benchmark_config(
                home,
                args.data_root,
                args.group_regex,
                # TFLite files are measured for the default model only: the others are
                # compared on accuracy.
                **{
                    **overrides,
                    "training.inputs": mode,
                    **({} if mode == "both" else {"tflite.variants": []}),
                },
            )
            started = time.perf_counter()
            local_runner.run(config)
            wall = time.perf_counter() - started
            run = list_runs(config)[0]
            seconds = {
                e.component: round(e.seconds, 1)
                for e in steps_after(config)
                if e.run_id == run.run_id and e.state == "COMPLETE"
            }
            figures = {"run_wall_s": round(wall, 1), "component_seconds": seconds}
            if config.data.folds:
                figures["cross_validation"] = fold_results(run).as_dict()
            else:
                model = model_summary(config)
                figures.update(
                    eval_accuracy=model.eval_accuracy,
                    test_accuracy=model.test_accuracy,
                    blessed=model.blessed,
                    mistakes=model.mistakes,
                    tflite=model.tflite if mode == "both" else None,
                )
            modes[mode] = figures
        report = ingestion_report.read_report(latest_artifact(config, "Examples").uri)
        # The newest: the run that made the Examples read above (a reused --home holds
        # older ones, oldest first).
        ingestion = [
            e.seconds
            for e in steps_after(config)
            if e.component == "ImageFolderExampleGen" and e.state == "COMPLETE"
        ][-1]

    images = report["totals"]["examples"]
    result = {
        "data_root": args.data_root,
        "examples": images,
        "examples_per_split": {s: sum(c.values()) for s, c in report["counts"].items()},
        "hands_found": report["totals"]["hands_found"],
        "hand_found_rate": round(report["totals"]["hands_found"] / images, 4),
        "example_gen_s": round(ingestion, 1),
        "example_gen_ms_per_image": round(1000 * ingestion / images, 1),
        "overrides": args.set,
        "modes": modes,
    }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
