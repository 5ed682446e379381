"""Each branch of a fused (training.inputs: both) model alone, on examples it never saw.

Runs the Trainer's model on the transformed examples of the given splits and scores three
answers: the model's (the branches mixed, what the Evaluator reports); the image branch's
softmax (what `serving_images` answers, with no landmarks); the landmark branch's softmax.
With --shares, also the answer the model would give with other values of
training.landmark_share: each branch trains on its own loss, so the share only mixes their
probabilities (and picks the early-stopping epoch), and it can be read without retraining.

    python benchmarks/fused_branches.py --model HOME/.../Trainer_fold1/model/N/Format-Serving \
        --transform-graph HOME/.../Transform/transform_graph/M \
        --split HOME/.../examples/K/Split-fold1_train --split .../Split-fold1_eval \
        [--shares 0.5,0.67,0.8,1.0] --out FILE.json
"""

import argparse
import glob

from benchmark_setup import write_result

import signpipe  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

WAYS = ("both", "image_alone", "landmarks_alone")


def main() -> None:
    """Measure the three ways and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the Trainer's Format-Serving folder")
    parser.add_argument("--transform-graph", required=True)
    parser.add_argument("--split", action="append", required=True, help="an Examples split folder")
    parser.add_argument(
        "--shares", default="", help="landmark shares to mix the branches with, comma-separated"
    )
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import tensorflow as tf
    import tensorflow_transform as tft
    import tf_keras

    from signpipe.models import features
    from signpipe.models.head import (
        LANDMARK_SHARE,
        POOL_LAYER,
        POOLED_FEATURES,
        branch_outputs,
        head_on_features,
        is_fused,
    )
    from signpipe.models.model import load_classifier

    transform = tft.TFTransformOutput(args.transform_graph)
    layer = transform.transform_features_layer()
    spec = transform.raw_feature_spec()
    model = load_classifier(args.model)
    if not is_fused(model):
        raise SystemExit(f"{args.model} is not a fused model: it has no branches to score alone")
    head = branch_outputs(head_on_features(model))
    classes = model.output_shape[-1]
    image = model.get_layer(features.IMAGE_FEATURE).output
    pool = tf_keras.Model(image, model.get_layer(POOL_LAYER).output)
    files = [path for split in args.split for path in sorted(glob.glob(f"{split}/*.gz"))]
    batches = (
        tf.data.TFRecordDataset(files, compression_type="GZIP")
        .batch(64)
        .map(lambda records: tf.io.parse_example(records, spec))
    )
    trained_share = float(model.get_layer(LANDMARK_SHARE).scale)
    # The model's own share is always mixed here too, as a check of the arithmetic below.
    shares = sorted({trained_share, *(float(share) for share in args.shares.split(",") if share)})
    right = dict.fromkeys(WAYS, 0)
    right_at = dict.fromkeys(shares, 0)
    images = 0
    for raw in batches:
        transformed = layer(raw)
        outputs = head(
            {
                POOLED_FEATURES: pool(transformed[features.IMAGE_FEATURE], training=False),
                features.LANDMARK_FEATURE: transformed[features.LANDMARK_FEATURE],
                features.HAND_FOUND_FEATURE: transformed[features.HAND_FOUND_FEATURE],
            },
            training=False,
        ).numpy()
        labels = transformed[features.LABEL_FEATURE].numpy().ravel()
        for index, way in enumerate(WAYS):  # [answer | image softmax | landmark softmax | found]
            answers = outputs[:, index * classes : (index + 1) * classes].argmax(axis=1)
            right[way] += int((answers == labels).sum())
        image_probabilities = outputs[:, classes : 2 * classes]
        hand_probabilities = outputs[:, 2 * classes : 3 * classes]
        found = outputs[:, 3 * classes : 3 * classes + 1]
        for share in shares:
            mixed = image_probabilities + share * found * (hand_probabilities - image_probabilities)
            right_at[share] += int((mixed.argmax(axis=1) == labels).sum())
        images += len(labels)
    if right_at[trained_share] != right["both"]:
        raise SystemExit(
            f"mixing the branches at the model's share {trained_share} read "
            f"{right_at[trained_share]} of {images} right, the model {right['both']}"
        )
    write_result(
        args.out,
        {
            "model": args.model,
            "splits": args.split,
            "images": images,
            "accuracy": {way: round(right[way] / images, 4) for way in WAYS},
            "trained_landmark_share": trained_share,
            "accuracy_by_landmark_share": {
                str(share): round(right_at[share] / images, 4) for share in shares
            },
        },
    )


if __name__ == "__main__":
    main()
