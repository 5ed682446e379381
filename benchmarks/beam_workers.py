"""Time the data half (ExampleGen, StatisticsGen, Transform) with 1 and 2 Beam workers.

python benchmarks/beam_workers.py --out benchmarks/results/beam_workers.json
Each setting runs in a fresh home (nothing cached); settings alternate over --rounds.
"""

import argparse
import statistics
import tempfile

from benchmark_setup import DEFAULT_DATA, benchmark_config, run_through_transform, write_result

import signpipe  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

SETTINGS = {
    "in_memory": [],  # the default: spelled out, each step would build a TFX sdist first
    "multi_processing_1_worker": [
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=1",
    ],
    "multi_processing_2_workers": [
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=2",
    ],
}
STEPS = ("ImageFolderExampleGen", "StatisticsGen", "Transform")


def run_once(data_root: str, group_regex: str, beam_args: list[str]) -> dict[str, float]:
    """Seconds per data-half step and the whole run's wall time, in a fresh home."""
    from signpipe.runs.store import steps_after

    with tempfile.TemporaryDirectory(prefix="signpipe-beam-") as home:
        config = benchmark_config(home, data_root, group_regex, beam_args=beam_args)
        wall = run_through_transform(config)
        seconds = {e.component: e.seconds for e in steps_after(config)}
    return {
        **{step: seconds[step] for step in STEPS},
        "steps": sum(seconds[s] for s in STEPS),
        "run_wall": wall,
    }


def main() -> None:
    """Run every setting --rounds times, interleaved, and write the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(DEFAULT_DATA))
    parser.add_argument("--group-regex", default=r"^(hand\d+)_")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    samples: dict[str, list[dict[str, float]]] = {name: [] for name in SETTINGS}
    for _ in range(args.rounds):
        for name, beam_args in SETTINGS.items():
            samples[name].append(run_once(args.data_root, args.group_regex, beam_args))
    medians = {
        name: {key: round(statistics.median(s[key] for s in runs), 1) for key in runs[0]}
        for name, runs in samples.items()
    }
    one, two = medians["multi_processing_1_worker"], medians["multi_processing_2_workers"]
    write_result(
        args.out,
        {
            "data_root": args.data_root,
            "rounds": args.rounds,
            "median_seconds": medians,
            "speed_up_2_vs_1_workers": {
                key: round(one[key] / two[key], 2) for key in ("steps", *STEPS, "run_wall")
            },
            "speed_up_in_memory_vs_2_workers": round(
                two["steps"] / medians["in_memory"]["steps"], 2
            ),
        },
    )


if __name__ == "__main__":
    main()
