"""Train the Trainer's model with plain tf_keras, no TFX: the baseline for the pipeline's cost.

Same images, split, hands, model, augmentation, phases, epochs and hyper-parameters as the
pipeline (ExampleGen's de-duplication and split functions and its MediaPipe hand analysis,
a thread per core; Transform's hand crop and landmark features; the Trainer's model, landmark
standardization and phases, the head on cached backbone features included).
Writes JSON with the seconds per step, the wall time (imports apart), eval/test accuracy and
training images/s (train images x epochs run / head + finetune seconds, eval passes included).

    python benchmarks/plain_keras.py [--data-root ../shared/datasets/asl_massey]
        [--group-regex '^(hand\\d+)_' | ''] [--set training.head_epochs=3 ...] --out FILE.json
"""

import argparse
import dataclasses
import glob
import hashlib
import os
import re
import resource
import time
from collections import Counter, defaultdict
from typing import TYPE_CHECKING

from benchmark_setup import add_run_arguments, benchmark_config, config_overrides, write_result

import signpipe  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from signpipe.pipeline.configs import DataConfig, TrainingConfig

if TYPE_CHECKING:
    import tensorflow as tf
    import tf_keras

Split = list[tuple[str, bytes]]  # (label, bytes tf.io.decode_image reads) per image


def scan_images(root: str, data: DataConfig) -> tuple[dict[str, Split], dict[str, int], list]:
    """The images of each split, assigned by ExampleGen's own split functions; counts; labels.

    A plain script has no quarantine: the benchmark data sets hold no unreadable file. Exact
    copies within a class are dropped as ExampleGen drops them (the first path is kept).
    """
    from signpipe.components.image_folder_example_gen import folder_layout
    from signpipe.components.image_folder_example_gen import split_assignment as sa
    from signpipe.components.image_folder_example_gen.component import split_output_config

    level, seed = data.group_folder_level, data.split_seed or "signpipe"
    regex = re.compile(data.group_regex) if data.group_regex else None
    splits = split_output_config(data.split_ratios).split_config.splits
    names, weights = [s.name for s in splits], [s.hash_buckets for s in splits]
    depth = folder_layout.file_depth(level)
    unique, files = {}, 0  # content sha256 -> (label, group, bytes)
    for path in sorted(glob.glob(os.path.join(root, *["*"] * depth))):
        files += 1
        relative = folder_layout.relative_path(root, path)
        with open(path, "rb") as handle:
            content = handle.read()
        key = hashlib.sha256(content).hexdigest()
        label = folder_layout.label_of(relative)
        unique.setdefault(key, (label, sa.group_key(relative, regex, level), content))
    if regex is not None or level is not None:
        sizes = Counter(group for _, group, _ in unique.values())
        groups = sa.group_assignment(sizes, names, weights, seed, data.pinned_groups)
        split_of = {key: groups[group] for key, (_, group, _) in unique.items()}
    else:
        by_label = defaultdict(list)
        for key, (label, _, _) in unique.items():
            by_label[label].append(key)
        quotas = sa.allocate_quotas({k: len(v) for k, v in by_label.items()}, weights, seed)
        split_of = {}
        for label, keys in by_label.items():
            split_of.update(sa.stratified_assignment(keys, names, quotas[label], seed))
    per_split: dict[str, Split] = {name: [] for name in names}
    for key, (label, _, content) in sorted(unique.items()):
        per_split[split_of[key]].append((label, content))
    counts = {"files": files, "duplicates_dropped": files - len(unique)}
    return per_split, counts, sorted({label for label, _, _ in unique.values()})


def find_hands(images: Split, min_confidence: float) -> list:
    """MediaPipe's hand in each image, on a thread per core (each thread its own graph), as
    ExampleGen reads them."""
    from concurrent.futures import ThreadPoolExecutor

    from signpipe.components.image_folder_example_gen.hand_analysis import (
        HandAnalyzerPerThread,
    )
    from signpipe.inference.serving_client import find_hand

    analyzers = HandAnalyzerPerThread(min_confidence)
    try:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            return list(
                pool.map(
                    lambda encoded: find_hand(analyzers.analyzer(), encoded),
                    [image for _, image in images],
                )
            )
    finally:
        analyzers.close()


def cached_dataset(
    images: Split, hands: list | None, labels: list[str], options: TrainingConfig, training: bool
) -> "tf.data.Dataset":
    """Batches of ({model input: tensor}, label index), made once as Transform makes them (the
    hand crop and landmark features with `hands`, the padded frame without) and cached."""
    import tensorflow as tf

    from signpipe.inference.serving_client import hand_request
    from signpipe.models import features
    from signpipe.models.model import model_input_names
    from signpipe.models.preprocessing import decode_and_resize, hand_inputs

    encoded = [image for _, image in images]
    raw = {features.IMAGE_KEY: encoded}
    if hands is not None:
        request = hand_request(encoded, hands)
        raw = {features.IMAGE_KEY: request.pop(features.IMAGE_BYTES_INPUT).tolist(), **request}
    indices = tf.constant([labels.index(label) for label, _ in images], tf.int64)
    dataset = tf.data.Dataset.from_tensor_slices((raw, indices))
    if training:  # as the Trainer: one shuffle before the cache; `augmented` and
        # `head_phase` deal the cached batches anew each epoch
        dataset = dataset.shuffle(len(images), seed=options.seed)
    names = model_input_names(options)

    def make_inputs(batch, label):
        if hands is None:
            made = {
                features.IMAGE_FEATURE: decode_and_resize(
                    batch[features.IMAGE_KEY], options.image_size
                )
            }
        else:
            made = hand_inputs(batch, options.image_size)
        return {name: made[name] for name in names}, label

    cached = (
        dataset.batch(options.batch_size)
        .map(make_inputs, num_parallel_calls=tf.data.AUTOTUNE)
        .cache()
    )
    for _ in cached:  # fill the cache now, so decoding is timed on its own
        pass
    return cached


def fit_phase(
    model: "tf_keras.Model",
    train: "tf.data.Dataset",
    evaluate: "tf.data.Dataset",
    phase: str,
    options: TrainingConfig,
) -> int:
    """Compile and fit one phase (head, finetune) as the Trainer's fit_phase, without its
    TensorBoard and progress callbacks; the epochs run."""
    import tf_keras

    from signpipe.models.head import compile_for_training

    epochs = getattr(options, f"{phase}_epochs")
    if epochs <= 0:
        return 0
    training = compile_for_training(
        model, getattr(options, f"{phase}_learning_rate"), options.label_smoothing
    )
    stop = tf_keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=options.early_stopping_patience, restore_best_weights=True
    )
    history = training.fit(
        train, validation_data=evaluate, epochs=epochs, verbose=2, callbacks=[stop]
    )
    return len(history.history["loss"])


def main() -> None:
    """Scan, find hands, decode, train both phases, evaluate, and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(parser)
    args = parser.parse_args()

    import_started = time.perf_counter()
    import tensorflow as tf
    import tf_keras

    from signpipe.models.head import compile_for_training
    from signpipe.models.landmark_scaling import landmark_scaling
    from signpipe.models.model import (
        augmented,
        build_classifier,
        head_phase,
        model_input_names,
        set_backbone_trainable,
    )

    import_seconds = time.perf_counter() - import_started
    started = clock = time.perf_counter()
    seconds = {}

    def lap(step: str) -> None:
        nonlocal clock
        seconds[step] = round(time.perf_counter() - clock, 2)
        clock = time.perf_counter()

    config = benchmark_config("", args.data_root, args.group_regex, **config_overrides(args.set))
    options = config.training
    per_split, counts, labels = scan_images(config.data_root.rstrip("/"), config.data)
    empty = [name for name, images in per_split.items() if not images]
    if empty:  # ImageFolderExampleGen stops here too
        raise SystemExit(f"split(s) {empty} received no image: {counts}")
    lap("scan_check_split")
    hands = {name: None for name in per_split}
    if config.data.hand_analysis:
        hands = {
            name: find_hands(images, config.data.hand_min_confidence)
            for name, images in per_split.items()
        }
    lap("hand_analysis")
    tf_keras.utils.set_random_seed(options.seed)
    data = {
        name: cached_dataset(images, hands[name], labels, options, training=name == "train")
        for name, images in per_split.items()
    }
    lap("decode_cache")
    scaling = landmark_scaling(data["train"], model_input_names(options))
    model = build_classifier(options, len(labels), scaling)
    lap("build_model")
    from_scratch = options.backbone_weights == "none"  # then all of it trains, BatchNorm too
    train = augmented(data["train"], options).prefetch(tf.data.AUTOTUNE)
    set_backbone_trainable(model, 1.0 if from_scratch else 0.0, from_scratch)
    epochs = {
        "head": fit_phase(
            *head_phase(model, data["train"], train, data["eval"], options), "head", options
        )
    }
    lap("head")
    set_backbone_trainable(model, 1.0 if from_scratch else options.finetune_fraction, from_scratch)
    epochs["finetune"] = fit_phase(model, train, data["eval"], "finetune", options)
    lap("finetune")
    scorer = compile_for_training(model, 0.0, options.label_smoothing)  # the answer's accuracy
    accuracy = {
        f"{name}_accuracy": scorer.evaluate(dataset, verbose=0, return_dict=True)["accuracy"]
        for name, dataset in data.items()
        if name != "train"
    }
    lap("evaluate")
    wall = time.perf_counter() - started

    training_s = seconds["head"] + seconds["finetune"]
    trained_images = len(per_split["train"]) * sum(epochs.values())
    write_result(
        args.out,
        {
            "data_root": config.data_root,
            "group_regex": config.data.group_regex or "",
            **counts,
            "images": sum(map(len, per_split.values())),
            "images_per_split": {name: len(images) for name, images in per_split.items()},
            "hands_found": {
                name: sum(hand.found for hand in found) for name, found in hands.items() if found
            },
            "classes": len(labels),
            "epochs_run": epochs,
            "seconds": seconds,
            "training_s": round(training_s, 2),
            "train_images_per_s": round(trained_images / training_s, 1) if training_s else None,
            "total_wall_s": round(wall, 1),
            "import_s": round(import_seconds, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            **accuracy,
            "training": dataclasses.asdict(options),
            "overrides": args.set,
        },
    )


if __name__ == "__main__":
    main()
