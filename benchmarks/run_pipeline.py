"""Benchmark the pipeline (or its data half) on a folder of images.

Writes JSON with images/s through ExampleGen and StatisticsGen, each component's wall
time (from ML Metadata), eval and test accuracy, the run's wall time and the peak memory
of the process tree.

    python benchmarks/run_pipeline.py [--data-root ../shared/datasets/asl_massey]
        [--data-only] [--beam-mode in_memory|multi_processing] [--group-regex '']
        [--home DIR]
        [--set training.head_epochs=3 ...] [--set data.folds='"loo"'] [--out FILE.json]

With data.folds set it records every fold's accuracy on its held-out groups instead.
"""

import argparse
import contextlib
import json
import os
import tempfile
import threading
import time

import psutil
from benchmark_setup import add_run_arguments, benchmark_config, config_overrides, write_result

import signpipe  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)


class PeakMemory:
    """Samples the summed RSS of this process and its children in a background thread; keeps
    every (wall-clock time, bytes) sample, so that each step's peak can be read out."""

    def __init__(self, interval: float = 0.2):
        self.peak_bytes = 0
        self.samples: list[tuple[float, int]] = []
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    continue
            self.peak_bytes = max(self.peak_bytes, total)
            self.samples.append((time.time(), total))
            self._stop.wait(self._interval)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def step_rss_mb(config, samples: list[tuple[float, int]]) -> dict[str, dict[str, int]]:
    """Each step's RSS of the process tree (MB) while ML Metadata had its execution open (a
    cached step has none): its peak, and its rise above the first sample in the step. The
    local runner runs every step in one process, so a step's peak includes what earlier
    steps left allocated; the rise is what the step itself added."""
    from signpipe.runs.store import open_store

    store = open_store(config, read_only=True)
    types = {t.id: t.name for t in store.get_context_types()}
    figures = {}
    for execution in store.get_executions():
        names = {types[c.type_id]: c.name for c in store.get_contexts_by_execution(execution.id)}
        start = execution.create_time_since_epoch / 1000.0
        end = execution.last_update_time_since_epoch / 1000.0
        during = [rss for at, rss in samples if start <= at <= end]
        if during:
            figures[names.get("node", "").rpartition(".")[2]] = {
                "peak": round(max(during) / 2**20),
                "rise": round((max(during) - during[0]) / 2**20),
            }
    return figures


def epochs_run(config) -> dict[str, int]:
    """The epochs each training phase ran, from the trained model's history (early stopping
    can end a phase before its configured count)."""
    from tfx.utils import path_utils

    from signpipe.models.model import HISTORY_FILE
    from signpipe.runs.store import latest_artifact

    model_dir = path_utils.serving_model_path(latest_artifact(config, "Model", "Trainer").uri)
    with open(os.path.join(model_dir, HISTORY_FILE)) as handle:
        history = json.load(handle)
    return {phase: len(history[phase].get("loss", [])) for phase in ("head", "finetune")}


def main() -> None:
    """Run the pipeline (or its data half) once and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(parser)
    parser.add_argument(
        "--beam-mode", default="in_memory", choices=["in_memory", "multi_processing"]
    )
    parser.add_argument("--data-only", action="store_true", help="run the data half only")
    parser.add_argument("--home", help="keep the run's home here (default: a temporary one)")
    args = parser.parse_args()

    import_started = time.perf_counter()
    from signpipe.components import ingestion_report
    from signpipe.pipeline import local_runner
    from signpipe.runs.fold_results import fold_results
    from signpipe.runs.history import list_runs
    from signpipe.runs.store import latest_artifact, steps_after
    from signpipe.runs.summaries import model_summary

    import_seconds = time.perf_counter() - import_started
    # in_memory is the default run's (no Beam arguments): spelled out, it would make every
    # TFX Beam step build a TFX sdist for remote workers, as a user's arguments do.
    beam_args = []
    if args.beam_mode == "multi_processing":
        beam_args = [
            f"--direct_running_mode={args.beam_mode}",
            f"--direct_num_workers={os.cpu_count()}",
        ]
    with contextlib.ExitStack() as stack:
        home = args.home or stack.enter_context(
            tempfile.TemporaryDirectory(prefix="signpipe-bench-")
        )
        config = benchmark_config(
            home,
            args.data_root,
            args.group_regex,
            beam_args=beam_args,
            **config_overrides(args.set),
        )
        started = time.perf_counter()
        with PeakMemory() as memory:
            local_runner.run(config, data_only=args.data_only)
        wall = time.perf_counter() - started
        seconds = {e.component: round(e.seconds, 2) for e in steps_after(config)}
        examples = latest_artifact(config, "Examples")
        report = ingestion_report.read_report(examples.uri)
        folds = config.data.folds and fold_results(list_runs(config)[0])
        model = None if args.data_only or folds else model_summary(config)
        tflite = model.tflite if model else None
        epochs = epochs_run(config) if model else None
        step_memory = step_rss_mb(config, memory.samples)

    images = report["totals"]["examples"]
    files = images + report["totals"]["quarantined"] + report["totals"]["duplicates_dropped"]
    result = {
        "data_root": args.data_root,
        "beam_mode": args.beam_mode,
        "files": files,
        "examples": images,
        "quarantined": report["totals"]["quarantined"],
        "duplicates_dropped": report["totals"]["duplicates_dropped"],
        "examples_per_split": {s: sum(c.values()) for s, c in report["counts"].items()},
        "component_seconds": seconds,
        "example_gen_images_per_s": round(files / seconds["ImageFolderExampleGen"], 1),
        "statistics_gen_images_per_s": round(images / seconds["StatisticsGen"], 1),
        "components_wall_s": round(sum(seconds.values()), 1),
        "run_wall_s": round(wall, 1),
        "import_s": round(import_seconds, 1),
        "peak_rss_mb_process_tree": round(memory.peak_bytes / 2**20),
        "step_rss_mb": step_memory,
        "overrides": args.set,
    }
    training_s = sum(s for name, s in seconds.items() if name.startswith("Trainer"))
    if folds:
        result.update(
            cross_validation=folds.as_dict(),
            training_s=round(training_s, 1),
            non_training_s=round(sum(seconds.values()) - training_s, 1),
        )
    if model is not None:
        result.update(
            eval_accuracy=model.eval_accuracy,
            test_accuracy=model.test_accuracy,
            blessed=model.blessed,
            training_s=training_s,
            epochs_run=epochs,
            mistakes=model.mistakes,
            non_training_s=round(sum(seconds.values()) - training_s, 1),
            tflite=tflite,
        )
    write_result(args.out, result)


if __name__ == "__main__":
    main()
