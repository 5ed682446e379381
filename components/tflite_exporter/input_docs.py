"""What a phone app feeds each TFLite input, written into the report beside the models.

The text restates models/preprocessing.py (hand_box, crop_square, landmark_features), the
one place the inputs are computed for training and serving; a change there must change it.
The app computes the landmark features itself: in the graph, their norms and division would
need SQRT and DIV, which have no int8 TFLite kernels, so int8 files could not be integer-only.
"""

import tf_keras

from signpipe.models import features

_QUANTIZED = (
    "Feed the inputs by name (the signature's input order is not part of the contract). "
    "Float variants take float32; int8 and qat_int8 take uint8, quantized with the input's "
    "scale and zero point in the file (and in this report per variant): "
    "q = clip(round(v / scale + zero_point), 0, 255). The output `probabilities` [1, C] "
    "follows labels.txt; in int8 variants it is uint8: p = (q - zero_point) * scale."
)
_MEDIAPIPE = (
    "MediaPipe's hand landmarker, one hand, on the whole camera frame (W x H pixels) as it "
    "is fed to the model: its 21 normalised landmarks (x, y in [0, 1] of the frame, z depth "
    "on x's scale; not the world landmarks) and the handedness label of that hand, as "
    "MediaPipe returns it for that frame (do not swap it for a mirrored selfie frame). "
    "Training used MediaPipe Hands 0.10.9 in static image mode."
)


_NO_HAND_ANALYSIS = (
    "Nothing: the model was trained without hand analysis (data.hand_analysis false), on "
    "whole frames. Do not run a hand landmarker or crop to the hand."
)


def _whole_frame(size: int) -> str:
    return (
        f"The whole frame: RGB, [{size}, {size}, 3], pixel values 0-255, centred in a black "
        f"square of side max(W, H) and resized to {size} x {size} (bilinear, antialiased, as "
        "tf.image.resize(antialias=True))."
    )


def _image(size: int) -> str:
    scale = features.HAND_BOX_SCALE
    return (
        f"The hand crop: RGB, [{size}, {size}, 3], pixel values 0-255 (in int8 variants a "
        "scale of about 1 and zero point 0, i.e. raw pixels, when the calibration crops span "
        "0-255; qat_int8 always). With a hand: map the 21 landmarks to "
        "pixels (x * W, y * H); the crop is a square centred on the middle of their bounding "
        f"box, side = max({scale} x the larger of that box's width and height, 16) pixels; "
        "top = round(centre_y - side / 2), left = round(centre_x - side / 2), side rounded "
        "to whole pixels. Copy that square from the frame, black (0) where it leaves the "
        f"frame, and resize it to {size} x {size} (bilinear, antialiased: a downscale "
        "averages the source pixels, as tf.image.resize(antialias=True)). Without a hand: "
        f"the whole frame centred in a black square of side max(W, H), resized to {size}."
    )


_PAIRS = features.LANDMARK_FEATURE_SIZE - features.LANDMARK_VALUES
_LANDMARKS = (
    f"[{features.LANDMARK_FEATURE_SIZE}] hand-shape features of the 21 landmarks, all zeros "
    "when no hand was found. With a = W / H: p_i = (x_i * a, y_i, z_i * a) for i = 0..20 "
    "(landmark 0 is the wrist); r_i = p_i - p_0; s = the largest sqrt(r_i.x^2 + r_i.y^2); "
    "r_i = r_i / max(s, 1e-6); if the handedness label is Left, r_i.x = -r_i.x. Then turn "
    "the hand about the wrist by its own tilt: with k = r_9 (the middle finger's knuckle), "
    "n = max(sqrt(k.x^2 + k.y^2), 1e-6), sin = k.x / n, cos = -k.y / n, every r_i becomes "
    "(cos * r_i.x - sin * r_i.y, sin * r_i.x + cos * r_i.y, r_i.z). The input "
    f"is r_0.x, r_0.y, r_0.z, r_1.x, ..., r_20.z ({features.LANDMARK_VALUES} values, the "
    "first three 0), then for every pair i < j in the order (0, 1), (0, 2), ..., (0, 20), "
    "(1, 2), ..., (19, 20) the distance sqrt((r_i.x - r_j.x)^2 + (r_i.y - r_j.y)^2 + "
    f"(r_i.z - r_j.z)^2 + 1e-12) ({_PAIRS} values). The x flip makes a frame and its mirror "
    "image give the same features; the crop is not mirrored, so feed frames in the "
    "orientation of the training images."
)
_FOUND = "[1]: 1.0 when the landmarker found a hand, 0.0 when not (then landmarks are zeros)."


def describe(model: tf_keras.Model, hand_crop: bool = True) -> dict:
    """Per model input: its shape and how to compute it from a frame and MediaPipe's hand;
    `hand_crop` False: from the whole frame alone (data ingested without hand analysis)."""
    inputs = {}
    for name, tensor in zip(model.input_names, model.inputs, strict=True):
        shape = [int(v) for v in tensor.shape[1:]]
        if name == features.IMAGE_FEATURE:
            how = _image(shape[0]) if hand_crop else _whole_frame(shape[0])
            inputs[name] = {"shape": shape, "how": how}
        elif name == features.LANDMARK_FEATURE:
            inputs[name] = {"shape": shape, "how": _LANDMARKS}
        else:  # features.HAND_FOUND_FEATURE: MODEL_INPUTS names no other input
            inputs[name] = {"shape": shape, "how": _FOUND}
    return {
        "source": _MEDIAPIPE if hand_crop else _NO_HAND_ANALYSIS,
        "values": _QUANTIZED,
        "batch": "Every input takes one example: a batch axis of 1 before the shapes below.",
        "inputs": inputs,
    }
