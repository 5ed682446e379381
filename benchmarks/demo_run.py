"""Time what a newcomer's `make demo` does after set-up: `signpipe run` in a fresh home.

    python benchmarks/demo_run.py --out benchmarks/results/demo_run.json

Runs the CLI as a subprocess (imports, demo data, every step, the run report), then reads
each step's seconds from ML Metadata. Nothing else should run on the machine meanwhile.
"""

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmark_setup import write_result

import signpipe  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

SIGNPIPE = Path(sys.executable).with_name("signpipe")


def main() -> None:
    """Run the demo once in a fresh home and write the wall time and step times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON path under benchmarks/results/")
    parser.add_argument("--log", help="also keep what the run printed, in this file")
    parser.add_argument("--config", help="a run configuration to pass on (an experiment)")
    args = parser.parse_args()

    from signpipe.pipeline.configs import load_config
    from signpipe.runs.store import steps_after
    from signpipe.runs.summaries import model_summary

    with tempfile.TemporaryDirectory(prefix="signpipe-demo-") as home:
        started = time.perf_counter()
        command = [str(SIGNPIPE), "run", "--home", home]
        command += ["--config", args.config] if args.config else []
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        wall = time.perf_counter() - started
        config = load_config(None, home=home)
        steps = {
            execution.component: round(execution.seconds, 1) for execution in steps_after(config)
        }
        model = model_summary(config)
        variants = (model.tflite or {}).get("variants", {})
    if args.log:
        Path(args.log).write_text(output)
    accuracy = dict(re.findall(r"\b(eval|test) accuracy: ([\d.]+%)", output))
    write_result(
        args.out,
        {
            "command": "signpipe run (generated demo data, default configuration)"
            if not args.config
            else f"signpipe run --config {args.config}: {Path(args.config).read_text().strip()}",
            "wall_s": round(wall, 1),
            "steps_s": steps,
            "steps_total_s": round(sum(steps.values()), 1),
            "outside_steps_s": round(wall - sum(steps.values()), 1),
            "accuracy": accuracy,
            "blessed": model.blessed,
            "tflite_variants": {
                name: {
                    "status": v["status"],
                    "accuracy": v.get("accuracy"),
                    "blessed": v.get("blessed"),
                }
                for name, v in variants.items()
            },
        },
    )


if __name__ == "__main__":
    main()
