"""What a TFLite variant costs and saves: accuracy, agreement, size and CPU latency."""

import os
import time
from collections.abc import Mapping

import numpy as np

from signpipe.components.tflite_exporter.tflite_classifier import TFLiteClassifier

WARMUP_RUNS = 5


def latency_ms(
    model_path: str, example: Mapping[str, np.ndarray], threads: int, runs: int
) -> dict[str, float]:
    """Median and p90 of batch-1 invoke() times on one example after warm-up, in ms."""
    classifier = TFLiteClassifier(model_path, threads=threads)
    prepared = classifier.prepare(example)
    for _ in range(WARMUP_RUNS):
        classifier.invoke(prepared)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        classifier.invoke(prepared)
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
    first: Mapping[str, np.ndarray],
    labels: np.ndarray,
    reference_classes: np.ndarray,
    latency_runs: int,
    predicted: np.ndarray,
) -> dict:
    """Top-1 accuracy, agreement with the reference model, size, latency and input types.

    `predicted` holds the model's top-1 classes for the examples whose `labels` are given,
    `first` the first of them (every model input by name, as Transform makes it), on which
    latency is timed.
    """
    classifier = TFLiteClassifier(model_path)
    cores = os.cpu_count() or 1
    return {
        "accuracy": float(np.mean(predicted == labels)),
        "images": len(labels),
        "agreement": float(np.mean(predicted == reference_classes)),
        "size_bytes": os.path.getsize(model_path),
        "latency": {
            "one_thread": latency_ms(model_path, first, 1, latency_runs),
            "all_cores": {
                "threads": cores,
                **latency_ms(model_path, first, cores, latency_runs),
            },
        },
        "inputs": classifier.input_details(),
    }


def judge(metrics: dict, reference_accuracy: float, max_drop: float, **extra) -> dict:
    """Bless a variant whose accuracy stays within max_drop of the SavedModel's."""
    drop = reference_accuracy - metrics["accuracy"]
    blessed = drop <= max_drop + 1e-9
    why = (
        f"accuracy {metrics['accuracy']:.4f} is {drop * 100:.2f} points below the "
        f"SavedModel's {reference_accuracy:.4f}; the bound is {max_drop * 100:.2f}"
    )
    images = metrics.get("images", 0)
    if images and 1 / images > max_drop + 1e-9:
        why += (
            f". One image of the {images} measured is {100 / images:.2f} points, more than "
            "the bound, so any image read differently fails it: a larger test split can "
            "tell one image from a real drop"
        )
    return {
        "status": "ok",
        "blessed": blessed,
        "why": "" if blessed else why,
        **metrics,
        **extra,
    }
