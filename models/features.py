"""Names of the raw features ExampleGen writes and the features Transform gives the model."""

# Raw features of each tf.Example (ExampleGen).
IMAGE_KEY = "image_raw"  # encoded JPEG, PNG or BMP bytes
LABEL_KEY = "label"
GROUP_KEY = "group"  # signer or session, when the data root has a group key
SOURCE_PATH_KEY = "source_path"  # the file the image was read from
CONTENT_HASH_KEY = "content_hash"  # of the encoded bytes; duplicates share it
IMAGE_FORMAT_KEY = "image_format"  # JPEG, PNG or BMP
# Image facts ExampleGen measures, for validation and drift.
HEIGHT_KEY, WIDTH_KEY, CHANNELS_KEY = "height", "width", "channels"
FILE_SIZE_KEY, BRIGHTNESS_KEY, SHARPNESS_KEY = "file_size", "brightness", "sharpness"
HAND_FOUND_KEY = "hand_found"  # int64: 1 when MediaPipe found a hand, else 0
HAND_SCORE_KEY = "hand_score"  # float: MediaPipe's handedness confidence, 0 when none
HANDEDNESS_KEY = "handedness"  # bytes: one of HANDEDNESS_VALUES
HAND_LANDMARKS_KEY = "hand_landmarks"  # 63 floats: x, y, z of 21 landmarks; zeros when none
HAND_BOX_KEY = "hand_box"  # 4 floats: ymin, xmin, ymax, xmax of the crop, image-normalised
IMAGE_FACT_KEYS = (
    HEIGHT_KEY,
    WIDTH_KEY,
    CHANNELS_KEY,
    FILE_SIZE_KEY,
    BRIGHTNESS_KEY,
    SHARPNESS_KEY,
)

LEFT, RIGHT, NO_HAND = "left", "right", "none"
HANDEDNESS_VALUES = (LEFT, RIGHT, NO_HAND)
LANDMARK_COUNT = 21
LANDMARK_VALUES = 3 * LANDMARK_COUNT
MIDDLE_KNUCKLE = 9  # MediaPipe's MIDDLE_FINGER_MCP: with the wrist (0), the hand's axis
# Hand-shape features: the 63 normalised coordinates and the 210 distances between landmarks.
# Distances do not change when a signer turns the hand; with them, a linear probe on
# spanish_alphabet_2signers went from 61%/55% to 79%/75% on the held-out signer.
LANDMARK_FEATURE_SIZE = LANDMARK_VALUES + LANDMARK_COUNT * (LANDMARK_COUNT - 1) // 2
# The crop is a square around the landmarks, this many times their larger extent: the
# landmarks are joint centres, so fingertips and the palm's edge lie outside their box.
HAND_BOX_SCALE = 1.6

# Features Transform produces: the model's inputs are named after them.
IMAGE_FEATURE = "image"  # float32 [size, size, 3] in [0, 255]: the hand crop (whole frame if none)
LANDMARK_FEATURE = "landmarks"  # float32 [LANDMARK_FEATURE_SIZE]: the hand's shape alone
HAND_FOUND_FEATURE = "hand_found"  # float32 [1]: 1.0 when landmarks are present
LABEL_FEATURE = "label_index"  # int64 index into the label vocabulary
LABEL_VOCABULARY = "label"  # vocabulary file name in the transform graph
MODEL_INPUTS = {
    "image": (IMAGE_FEATURE,),
    "landmarks": (LANDMARK_FEATURE, HAND_FOUND_FEATURE),
    "both": (IMAGE_FEATURE, LANDMARK_FEATURE, HAND_FOUND_FEATURE),
}

# The SavedModel's serving signatures, the image input they share and the outputs each
# returns: what TF Serving consumers call, so renaming one breaks them.
EXAMPLES_SIGNATURE = "serving_default"  # serialized tf.Examples
IMAGE_SIGNATURE = "serving_images"  # image bytes alone: the whole frame
HANDS_SIGNATURE = "serving_hands"  # image bytes and MediaPipe's hand landmarks
TRANSFORM_SIGNATURE = "transform_features"  # the transform graph, for TFMA
IMAGE_BYTES_INPUT = "image_bytes"
SERVING_OUTPUTS = ("label", "class_index", "confidence", "probabilities", "classes")
