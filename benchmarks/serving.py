"""Serving latency: the pushed SavedModel in process vs the client over gRPC and REST.

Sends real photographs (JPEG bytes from the data set) at batch 1 and 32 to `serving_hands`
(with MediaPipe's landmarks, found once before timing: the transport is measured, not
MediaPipe) or, for a model without it, to `serving_images`. The servers are the
in-process TF Serving stand-in of the tests, so the client's overhead (encoding,
transport, decoding) is measured against the same model executed in the same process; a
real TF Serving's own execution speed is not measured.

    python benchmarks/serving.py --model-dir HOME/serving/signpipe [--runs 30] \
        --out benchmarks/results/serving.json
"""

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from benchmark_setup import DEFAULT_DATA, stand_in_server, write_result

import signpipe  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)


def _interleaved_ms(calls: dict[str, Callable[[], object]], runs: int) -> dict[str, list[float]]:
    """Wall times of each call, taken in turn round by round after two warm-up rounds.

    Taking them in turn means drifts in machine speed hit every call alike, so the
    per-round differences measure the client's overhead rather than the drift.
    """
    times: dict[str, list[float]] = {name: [] for name in calls}
    for round_index in range(runs + 2):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            if round_index >= 2:
                times[name].append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    """Measure and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True, help="a pushed model (or version) folder")
    parser.add_argument("--data-root", default=str(DEFAULT_DATA))
    parser.add_argument("--runs", type=int, default=30, help="timed calls per measurement")
    parser.add_argument("--out", required=True, help="JSON path under benchmarks/results/")
    args = parser.parse_args()

    import tensorflow as tf

    from signpipe.components.image_folder_example_gen.hand_analysis import HandAnalyzer
    from signpipe.components.tflite_exporter.measure import latency_summary
    from signpipe.inference.predict import saved_model_folder
    from signpipe.inference.serving_client import (
        ServingClient,
        ServingOptions,
        find_hand,
        hand_request,
    )
    from signpipe.models import features
    from signpipe.pipeline.configs import DataConfig

    folder = saved_model_folder(args.model_dir)
    every = sorted(p for p in Path(args.data_root).rglob("*") if p.suffix in (".jpeg", ".jpg"))
    files = every[:: max(1, len(every) // 32)][:32]  # spread over the classes
    images = [path.read_bytes() for path in files]
    signatures = tf.saved_model.load(folder).signatures
    with_hands = features.HANDS_SIGNATURE in signatures
    analyzer = HandAnalyzer(DataConfig().hand_min_confidence)
    hands = [find_hand(analyzer, image) for image in images] if with_hands else None
    serve = signatures[features.HANDS_SIGNATURE if with_hands else features.IMAGE_SIGNATURE]

    def in_process(batch: int) -> object:
        if not with_hands:
            return serve(**{features.IMAGE_BYTES_INPUT: tf.constant(images[:batch])})
        request = hand_request(images[:batch], hands[:batch])
        return serve(**{name: tf.constant(value) for name, value in request.items()})

    result = {
        "model": folder,
        "signature": features.HANDS_SIGNATURE if with_hands else features.IMAGE_SIGNATURE,
        "images": f"{len(images)} files from {args.data_root}",
        "mean_image_bytes": int(sum(map(len, images)) / len(images)),
        "runs": args.runs,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "in_process": {},
        "grpc": {},
        "rest": {},
    }
    with (
        stand_in_server(folder) as server,
        ServingClient(ServingOptions(server.grpc_address, timeout=60)) as grpc_client,
        ServingClient(ServingOptions(server.rest_address, rest=True, timeout=60)) as rest,
    ):
        for batch in (1, 32):
            key = f"batch_{batch}"
            sent = hands[:batch] if hands else None
            times = _interleaved_ms(
                {
                    "in_process": lambda b=batch: in_process(b),
                    "grpc": lambda b=batch, h=sent: grpc_client.predict(images[:b], h),
                    "rest": lambda b=batch, h=sent: rest.predict(images[:b], h),
                },
                args.runs,
            )
            result["in_process"][key] = latency_summary(times["in_process"])
            for transport in ("grpc", "rest"):
                overhead = statistics.median(
                    client - own
                    for client, own in zip(times[transport], times["in_process"], strict=True)
                )
                result[transport][key] = {
                    **latency_summary(times[transport]),
                    "overhead_ms": round(overhead, 3),
                    "overhead_per_image_ms": round(overhead / batch, 3),
                }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
