"""What a TFLite variant costs and saves: accuracy, agreement, size and CPU latency."""

import os
import time

import numpy as np

from signpipe.components.tflite_exporter.tflite_classifier import TFLiteClassifier

WARMUP_RUNS = 5


def latency_ms(model_path: str, image: np.ndarray, threads: int, runs: int) -> dict[str, float]:
    """Median and p90 of batch-1 invoke() times after warm-up, in milliseconds."""
    classifier = TFLiteClassifier(model_path, threads=threads)
    tensor = classifier.prepare(image)
    for _ in range(WARMUP_RUNS):
        classifier.invoke(tensor)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        classifier.invoke(tensor)
        times.append((time.perf_counter() - started) * 1000.0)
    return latency_summary(times)


def latency_summary(times_ms: list[float]) -> dict[str, float]:
    """Median and 90th percentile of wall times in milliseconds."""
    return {
        "median_ms": round(float(np.median(times_ms)), 3),
        "p90_ms": round(float(np.percentile(times_ms, 90)), 3),
    }


def measure(
    model_path: str,
    images: np.ndarray,
    labels: np.ndarray,
    reference_classes: np.ndarray,
    latency_runs: int,
) -> dict:
    """Top-1 accuracy, agreement with the reference model, file size and latency."""
    predicted = TFLiteClassifier(model_path).probabilities(images).argmax(axis=1)
    cores = os.cpu_count() or 1
    return {
        "accuracy": float(np.mean(predicted == labels)),
        "agreement": float(np.mean(predicted == reference_classes)),
        "size_bytes": os.path.getsize(model_path),
        "latency": {
            "one_thread": latency_ms(model_path, images[0], 1, latency_runs),
            "all_cores": {
                "threads": cores,
                **latency_ms(model_path, images[0], cores, latency_runs),
            },
        },
    }
