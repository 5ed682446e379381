"""Each branch of a fused (training.inputs: both) model alone, on examples it never saw.

Feeds the Trainer's model the transformed examples of the given splits three ways: both
branches; the image branch alone (landmarks zeroed and hand_found 0, as `serving_images`
gets); the landmark branch alone (the pooled image features zeroed). The first is the
figure the Evaluator reports; the other two show what each branch learned by itself.

    python benchmarks/fused_branches.py --model HOME/.../Trainer_fold1/model/N/Format-Serving \
        --transform-graph HOME/.../Transform/transform_graph/M \
        --split HOME/.../examples/K/Split-fold1_train --split .../Split-fold1_eval --out FILE.json
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
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import tensorflow as tf
    import tensorflow_transform as tft
    import tf_keras

    from signpipe.models import features
    from signpipe.models.model import POOLED_FEATURES, head_on_features, load_classifier

    transform = tft.TFTransformOutput(args.transform_graph)
    layer = transform.transform_features_layer()
    spec = transform.raw_feature_spec()
    model = load_classifier(args.model)
    head = head_on_features(model)
    image = model.get_layer(features.IMAGE_FEATURE).output
    pool = tf_keras.Model(image, model.get_layer("head_pool").output)
    files = [path for split in args.split for path in sorted(glob.glob(f"{split}/*.gz"))]
    batches = (
        tf.data.TFRecordDataset(files, compression_type="GZIP")
        .batch(64)
        .map(lambda records: tf.io.parse_example(records, spec))
    )
    right = dict.fromkeys(WAYS, 0)
    images = 0
    for raw in batches:
        transformed = layer(raw)
        pooled = pool(transformed[features.IMAGE_FEATURE], training=False)
        landmarks = transformed[features.LANDMARK_FEATURE]
        found = transformed[features.HAND_FOUND_FEATURE]
        inputs = {
            "both": (pooled, landmarks, found),
            "image_alone": (pooled, tf.zeros_like(landmarks), tf.zeros_like(found)),
            "landmarks_alone": (tf.zeros_like(pooled), landmarks, found),
        }
        labels = transformed[features.LABEL_FEATURE].numpy().ravel()
        for way, (pooled_in, landmarks_in, found_in) in inputs.items():
            probabilities = head(
                {
                    POOLED_FEATURES: pooled_in,
                    features.LANDMARK_FEATURE: landmarks_in,
                    features.HAND_FOUND_FEATURE: found_in,
                },
                training=False,
            )
            right[way] += int((probabilities.numpy().argmax(axis=1) == labels).sum())
        images += len(labels)
    write_result(
        args.out,
        {
            "model": args.model,
            "splits": args.split,
            "images": images,
            "accuracy": {way: round(right[way] / images, 4) for way in WAYS},
        },
    )


if __name__ == "__main__":
    main()
