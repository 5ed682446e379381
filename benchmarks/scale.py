"""How time and memory grow with the number of images: the whole pipeline, short training,
on generated data of N images, for each N.

    python benchmarks/scale.py --images 2000 10000 50000 --out benchmarks/results/scale.json

Each N gets its own synthetic data set (`signpipe demo-data`: six letters, four signers)
and runs in a fresh home, one at a time, through `run_pipeline.py` (1 head and 1 fine-tune
epoch, TFLite float32 and int8). Per step it records wall time, milliseconds per image and
the peak RSS of the process tree while the step ran, and its rise above the step's start
(every step runs in one process: a step's peak includes what earlier steps left); then how
each grows from the smallest N.
"""

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmark_setup import write_result

LETTERS = 6  # the demo letters
SIGNERS = 4
SHORT_RUN = {
    "training.head_epochs": 1,
    "training.finetune_epochs": 1,
    "tflite.variants": ["float32", "int8"],
}


def run_one(images: int, folder: Path) -> dict:
    """Generate `images` demo images under `folder`, run the pipeline on them, its figures."""
    data = folder / "data"
    per_class = math.ceil(images / LETTERS)
    bin_dir = Path(sys.executable).parent
    generate = ["demo-data", "--out", str(data), "--images-per-class", str(per_class)]
    subprocess.run([bin_dir / "signpipe", *generate, "--signers", str(SIGNERS)], check=True)
    out = folder / "run.json"
    settings = [f"--set={key}={json.dumps(value)}" for key, value in SHORT_RUN.items()]
    run = ["--data-root", str(data), "--group-regex", "", "--out", str(out), *settings]
    script = str(Path(__file__).with_name("run_pipeline.py"))
    subprocess.run([sys.executable, script, *run], check=True)
    return json.loads(out.read_text())


def per_image(run: dict) -> dict:
    """Per step: seconds, ms per image (of the files read) and peak RSS in MB."""
    return {
        step: {
            "seconds": seconds,
            "ms_per_image": round(1000 * seconds / run["files"], 2),
            "peak_rss_mb": run["step_rss_mb"].get(step, {}).get("peak"),
            "rss_rise_mb": run["step_rss_mb"].get(step, {}).get("rise"),
        }
        for step, seconds in run["component_seconds"].items()
        if seconds >= 1.0  # steps that only pass artifacts on
    }


def main() -> None:
    """Run each N in turn and write every run's figures and the growth from the smallest N."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[2000, 10000, 50000])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    runs = {}
    for images in sorted(args.images):
        with tempfile.TemporaryDirectory(prefix=f"signpipe-scale-{images}-") as folder:
            run = run_one(images, Path(folder))
        runs[str(run["files"])] = {
            "steps": per_image(run),
            "run_wall_s": run["run_wall_s"],
            "peak_rss_mb_process_tree": run["peak_rss_mb_process_tree"],
            "test_accuracy": run.get("test_accuracy"),
        }
    smallest = runs[min(runs, key=int)]
    growth = {
        count: {
            step: {
                "time_per_image": round(figures["ms_per_image"] / base["ms_per_image"], 2),
                "peak_rss": figures["peak_rss_mb"]
                and round(figures["peak_rss_mb"] / base["peak_rss_mb"], 2),
            }
            for step, figures in run["steps"].items()
            if (base := smallest["steps"].get(step)) and base["peak_rss_mb"]
        }
        for count, run in runs.items()
    }
    write_result(
        args.out,
        {"short_run": SHORT_RUN, "runs": runs, "growth_from_smallest": growth},
    )


if __name__ == "__main__":
    main()
