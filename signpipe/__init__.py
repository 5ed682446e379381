"""signpipe: a TFX pipeline from folders of hand-sign images to served and TFLite models."""

import os

# TFT 1.16, TFMA 0.47 and tfmot 0.8 are Keras 2 only; this must be set before TensorFlow
# is first imported, and every entry point (CLI, tests, Beam workers) imports signpipe first.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

__version__ = "0.1.0"
