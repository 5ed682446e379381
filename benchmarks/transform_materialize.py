"""Measure what materializing decoded images in Transform costs (time, disk, read-back).

python benchmarks/transform_materialize.py --out benchmarks/results/transform_materialize.json
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmark_setup import DEFAULT_DATA, run_through_transform, write_result

import signpipe  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)


def _folder_bytes(path: str) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def main() -> None:
    """Run the data half plus Transform(materialize=True) and time reading its output."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(DEFAULT_DATA))
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import tensorflow as tf

    from signpipe.pipeline.configs import load_config
    from signpipe.runs.store import latest_artifact, steps_after

    with tempfile.TemporaryDirectory(prefix="signpipe-materialize-") as home:
        config = load_config(None, home=home, **{"data.data_root": args.data_root})
        run_through_transform(config, materialize=True)
        seconds = {e.component: e.seconds for e in steps_after(config)}
        materialized = latest_artifact(config, "Examples", "Transform")
        train_files = tf.io.gfile.glob(os.path.join(materialized.uri, "Split-train", "*"))
        started = time.perf_counter()
        records = sum(1 for _ in tf.data.TFRecordDataset(train_files, compression_type="GZIP"))
        read_seconds = time.perf_counter() - started
        result = {
            "data_root": args.data_root,
            "image_size": config.training.image_size,
            "transform_materialize_s": round(seconds["Transform"], 1),
            "materialized_bytes_all_splits": _folder_bytes(materialized.uri),
            "train_records": records,
            "read_train_split_once_s": round(read_seconds, 1),
        }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
