"""Serving latency: the pushed SavedModel in process vs the client over gRPC and REST.

Sends real photographs (JPEG bytes from the data set) to the `serving_images` signature at
batch 1 and 32. The servers are the in-process TF Serving stand-in of the tests, so the
client's overhead (encoding, transport, decoding) is measured against the same model
executed in the same process; a real TF Serving's own execution speed is not measured.

    python benchmarks/serving.py --model-dir HOME/serving/signpipe [--runs 30] \
        --out benchmarks/results/serving.json
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmark_setup import DEFAULT_DATA, REPO, write_result

import signpipe  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

sys.path.insert(0, str(REPO))  # tests.fake_tf_serving, the protocol stand-in


def _median_ms(call: Callable[[], object], runs: int) -> dict[str, float]:
    """Median and 90th percentile wall time of `call` after two warm-up calls."""
    call()
    call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 2),
        "p90_ms": round(times[int(0.9 * (len(times) - 1))], 2),
    }


def main() -> None:
    """Measure and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True, help="a pushed model (or version) folder")
    parser.add_argument("--data-root", default=str(DEFAULT_DATA))
    parser.add_argument("--runs", type=int, default=30, help="timed calls per measurement")
    parser.add_argument("--out", required=True, help="JSON path under benchmarks/results/")
    args = parser.parse_args()

    import tensorflow as tf

    from signpipe.components.serving_pusher import model_directory
    from signpipe.predict import saved_model_folder
    from signpipe.serving_client import IMAGE_INPUT, IMAGE_SIGNATURE, ServingClient, ServingOptions
    from tests.fake_tf_serving import FakeTFServing

    folder = saved_model_folder(args.model_dir)
    every = sorted(p for p in Path(args.data_root).rglob("*") if p.suffix in (".jpeg", ".jpg"))
    files = every[:: max(1, len(every) // 32)][:32]  # spread over the classes
    images = [path.read_bytes() for path in files]
    serve = tf.saved_model.load(folder).signatures[IMAGE_SIGNATURE]
    result = {
        "model": folder,
        "images": f"{len(images)} files from {args.data_root}",
        "mean_image_bytes": int(sum(map(len, images)) / len(images)),
        "runs": args.runs,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "in_process": {},
        "grpc": {},
        "rest": {},
    }
    for batch in (1, 32):
        tensor = tf.constant(images[:batch])
        result["in_process"][f"batch_{batch}"] = _median_ms(
            lambda tensor=tensor: serve(**{IMAGE_INPUT: tensor}), args.runs
        )

    with tempfile.TemporaryDirectory(prefix="signpipe-serving-") as serving_root:
        model_directory.publish(
            os.path.join(serving_root, "signpipe", "1"),
            lambda staging: model_directory.copy_tree(folder, staging),
        )
        model_directory.write_models_config(serving_root, "/models", 1)
        with FakeTFServing(serving_root) as server:
            endpoints = {"grpc": server.grpc_address, "rest": server.rest_address}
            for transport, address in endpoints.items():
                options = ServingOptions(address, rest=transport == "rest", timeout=60)
                with ServingClient(options) as client:
                    for batch in (1, 32):
                        key = f"batch_{batch}"
                        timing = _median_ms(lambda b=batch: client.predict(images[:b]), args.runs)
                        own = result["in_process"][key]["median_ms"]
                        timing["overhead_ms"] = round(timing["median_ms"] - own, 2)
                        timing["overhead_per_image_ms"] = round(timing["overhead_ms"] / batch, 3)
                        result[transport][key] = timing
    write_result(args.out, result)


if __name__ == "__main__":
    main()
