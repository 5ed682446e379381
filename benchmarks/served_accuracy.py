"""Accuracy of a pushed model from raw image files, the way its users call it.

The pipeline's figures come from the Examples, whose landmarks MediaPipe found at
ingestion. A user hands `signpipe predict` image files: MediaPipe runs again, then the
SavedModel in process, TF Serving over gRPC and REST (the tests' in-process stand-in
serving the pushed version folder), or a pushed TFLite file. This reads the held-out
people's files (the model card's test groups) through each of those paths and sets their
accuracy beside the TestEvaluator's, so a skew between training and serving shows.

    python benchmarks/served_accuracy.py --model-dir HOME/serving/signpipe/VERSION \
        --out benchmarks/results/served_accuracy.json
"""

import argparse
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from benchmark_setup import stand_in_server, write_result

import signpipe  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)


def held_out_files(card: dict, data_root: str, group_regex: str) -> list[Path]:
    """The image files of the model card's test groups, found by `group_regex`, one of
    each set of byte-identical copies (ExampleGen keeps one, so the TestEvaluator saw one)."""
    groups = set(card["data"]["groups"]["test"])
    pattern = re.compile(group_regex)
    files, seen = [], set()
    for path in sorted(Path(data_root).rglob("*")):
        match = pattern.search(path.name)
        if path.is_file() and match and match.group(1) in groups:
            digest = hashlib.sha256(path.read_bytes()).digest()
            if digest not in seen:
                seen.add(digest)
                files.append(path)
    if not files:
        raise SystemExit(f"no files of the groups {sorted(groups)} under {data_root}")
    return files


def scored(classify: Callable[[list[str]], list], files: list[Path]) -> tuple[dict, list[str]]:
    """Accuracy (the folder is the label), hands found and wall time of one path."""
    started = time.perf_counter()
    predictions = classify([str(path) for path in files])
    seconds = time.perf_counter() - started
    labels = [prediction.label for prediction in predictions]
    right = sum(label == path.parent.name for label, path in zip(labels, files, strict=True))
    summary = {
        "accuracy": round(right / len(files), 4),
        "right": right,
        "errors": sum(prediction.error is not None for prediction in predictions),
        "hands_found": sum(bool(prediction.hand_found) for prediction in predictions),
        "wall_s": round(seconds, 1),
        "ms_per_image": round(seconds * 1000 / len(files), 1),
    }
    return summary, labels


def main() -> None:
    """Measure and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True, help="a pushed SavedModel version folder")
    parser.add_argument("--data-root", help="default: the model card's data root")
    parser.add_argument("--group-regex", default=r"^(hand\d+)_", help="capture: the group")
    parser.add_argument("--variants", default="float32,int8,qat_int8", help="TFLite files")
    parser.add_argument("--out", required=True, help="JSON path under benchmarks/results/")
    args = parser.parse_args()

    from signpipe.components import model_directory
    from signpipe.inference.predict import predict_saved_model, predict_server, predict_tflite
    from signpipe.inference.serving_client import ServingOptions

    folder = os.path.abspath(args.model_dir)
    card = json.loads(Path(folder, "model_card.json").read_text())
    files = held_out_files(card, args.data_root or card["data"]["data_root"], args.group_regex)
    tflite = Path(folder).parent / model_directory.TFLITE_FOLDER / Path(folder).name
    result = {
        "model": folder,
        "held_out_groups": card["data"]["groups"]["test"],
        "images": len(files),
        "test_evaluator_accuracy": round(card["metrics"]["test_accuracy"], 4),
        "paths": {},
    }
    answers = {}
    paths: dict[str, Callable[[list[str]], list]] = {
        "saved_model": lambda images: predict_saved_model(folder, images),
    }
    with stand_in_server(folder, card["model_name"]) as server:
        for name, address, rest in (
            ("grpc", server.grpc_address, False),
            ("rest", server.rest_address, True),
        ):
            options = ServingOptions(address, card["model_name"], rest=rest, timeout=120)
            paths[name] = lambda images, o=options: predict_server(o, images)
        for variant in args.variants.split(","):
            model = str(tflite / f"{variant}.tflite")
            paths[f"tflite_{variant}"] = lambda images, m=model: predict_tflite(m, images)
        for name, classify in paths.items():
            result["paths"][name], answers[name] = scored(classify, files)
            print(name, result["paths"][name], flush=True)
    for name, labels in answers.items():
        same = sum(a == b for a, b in zip(labels, answers["saved_model"], strict=True))
        result["paths"][name]["same_answer_as_saved_model"] = same
    write_result(args.out, result)


if __name__ == "__main__":
    main()
