"""The landmark branch alone on stored landmarks, over seeds: seconds a run, no images.

Reads the landmarks ExampleGen stored in a pipeline home, computes the Transform's hand-shape
features, and trains the Trainer's landmarks-only model (`training.inputs: landmarks`) the
Trainer's way (both phases, early stopping on the eval splits, hands varied every epoch),
once per seed. Records each seed's accuracy on the test splits and that of the seeds'
averaged probabilities. For trying landmark features and their augmentation on held-out
signers before a whole pipeline run:

    python benchmarks/landmark_mlp.py \
        --examples HOME/pipelines/signpipe/ImageFolderExampleGen/examples/N \
        --train train --eval eval --test test --seeds 0,1,2 [--set training.landmark_jitter=0] \
        --out FILE.json
"""

import argparse
import glob
import os
import tempfile

from benchmark_setup import config_overrides, write_result

import signpipe  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)


def main() -> None:
    """Train the landmark model once per seed and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", required=True, help="an ExampleGen examples folder")
    for role in ("train", "eval", "test"):
        parser.add_argument(f"--{role}", required=True, help="split name(s), comma-separated")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--set", action="append", default=[], metavar="training.KEY=VALUE")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import dataclasses

    import numpy as np

    from signpipe.pipeline.configs import TrainingConfig

    settings = {
        key.removeprefix("training."): value for key, value in config_overrides(args.set).items()
    }
    splits = {
        role: _examples(args.examples, getattr(args, role)) for role in ("train", "eval", "test")
    }
    classes = sorted(set(splits["train"][2]))
    seeds, runs = [int(seed) for seed in args.seeds.split(",")], []
    for seed in seeds:
        options = TrainingConfig(**{**settings, "inputs": "landmarks", "seed": seed})
        runs.append(_train_and_predict(options, splits, classes))
    labels = _indices(splits["test"][2], classes)
    accuracies = [float((p.argmax(axis=1) == labels).mean()) for p in runs]
    averaged = float((np.mean(runs, axis=0).argmax(axis=1) == labels).mean())
    write_result(
        args.out,
        {
            "examples": args.examples,
            "splits": {role: getattr(args, role) for role in ("train", "eval", "test")},
            "images": {role: len(split[2]) for role, split in splits.items()},
            "options": {
                key: value
                for key, value in dataclasses.asdict(TrainingConfig(**settings)).items()
                if key.startswith("landmark") or key in ("label_smoothing", "dropout")
            },
            "seeds": seeds,
            "test_accuracy": [round(a, 4) for a in accuracies],
            "test_accuracy_mean": round(float(np.mean(accuracies)), 4),
            "test_accuracy_seeds_averaged": round(averaged, 4),
        },
    )


def _indices(labels, classes):
    """Label strings -> indices into the sorted class names."""
    import numpy as np

    index = {label: i for i, label in enumerate(classes)}
    return np.array([index[label] for label in labels], np.int64)


def _train_and_predict(options, splits, classes):
    """Test-split probabilities of the landmarks-only model trained with `options`."""
    import tensorflow as tf
    import tf_keras

    from signpipe.models import features
    from signpipe.models.landmark_scaling import LandmarkScaling
    from signpipe.models.model import augmented, build_classifier, fit_phase

    tf_keras.utils.set_random_seed(options.seed)

    def batches(split, shuffle: bool):
        shapes, found, labels = split
        inputs = {features.LANDMARK_FEATURE: shapes, features.HAND_FOUND_FEATURE: found}
        dataset = tf.data.Dataset.from_tensor_slices((inputs, _indices(labels, classes)))
        if shuffle:
            dataset = dataset.shuffle(
                len(labels), seed=options.seed, reshuffle_each_iteration=False
            )
        return dataset.batch(options.batch_size).cache()

    train = augmented(batches(splits["train"], True), options)
    evaluate = batches(splits["eval"], False)
    shapes, found, _ = splits["train"]
    model = build_classifier(options, len(classes), LandmarkScaling.of(shapes, found))
    with tempfile.TemporaryDirectory() as logs:
        for epochs, rate, phase in (
            (options.head_epochs, options.head_learning_rate, "head"),
            (options.finetune_epochs, options.finetune_learning_rate, "finetune"),
        ):
            fit_phase(model, train, evaluate, epochs, rate, options, logs, phase)
    return model.predict(batches(splits["test"], False), verbose=0)


def _examples(folder: str, names: str):
    """(landmark features, found [n, 1], labels) of the named splits of an examples folder."""
    import numpy as np
    import tensorflow as tf

    from signpipe.models import features
    from signpipe.models.preprocessing import landmark_features

    spec = {
        features.HAND_LANDMARKS_KEY: tf.io.FixedLenFeature([features.LANDMARK_VALUES], tf.float32),
        features.HAND_FOUND_KEY: tf.io.FixedLenFeature([], tf.int64),
        features.HANDEDNESS_KEY: tf.io.FixedLenFeature([], tf.string),
        features.LABEL_KEY: tf.io.FixedLenFeature([], tf.string),
        features.HEIGHT_KEY: tf.io.FixedLenFeature([], tf.int64),
        features.WIDTH_KEY: tf.io.FixedLenFeature([], tf.int64),
    }
    files = [
        path
        for name in names.split(",")
        for path in sorted(glob.glob(os.path.join(folder, f"Split-{name}", "*.gz")))
    ]
    if not files:
        raise SystemExit(f"no examples of split(s) {names} under {folder}")
    shapes, found, labels = [], [], []
    records = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(512)
    for batch in records.map(lambda r: tf.io.parse_example(r, spec)):
        aspect = tf.cast(batch[features.WIDTH_KEY], tf.float32) / tf.cast(
            batch[features.HEIGHT_KEY], tf.float32
        )
        hand = batch[features.HAND_FOUND_KEY]
        shapes.append(
            landmark_features(
                batch[features.HAND_LANDMARKS_KEY], hand, batch[features.HANDEDNESS_KEY], aspect
            ).numpy()
        )
        found.append(hand.numpy().reshape(-1, 1).astype(np.float32))
        labels.append(batch[features.LABEL_KEY].numpy())
    return np.concatenate(shapes), np.concatenate(found), np.concatenate(labels)


if __name__ == "__main__":
    main()
