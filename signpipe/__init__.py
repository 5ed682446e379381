"""signpipe: a TFX pipeline from folders of hand-sign images to served and TFLite models."""

import importlib
import os

# TFT 1.16, TFMA 0.47 and tfmot 0.8 are Keras 2 only; this must be set before TensorFlow
# is first imported, and every entry point (CLI, tests, Beam workers) imports signpipe first.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

__version__ = "0.1.0"

# The artifact types of signpipe's own components, by the `signpipe.<Type>` names a compiled
# Kubeflow step imports them from (TFX's V2 entry point imports a custom type by its
# TYPE_NAME). Resolved on first use, so `import signpipe` stays light.
_ARTIFACT_TYPES = {
    "DataReport": "signpipe.components.artifacts",
    "TFLiteModels": "signpipe.components.artifacts",
}


def __getattr__(name: str):
    """An artifact type named in `_ARTIFACT_TYPES`, imported from its component."""
    if name in _ARTIFACT_TYPES:
        return getattr(importlib.import_module(_ARTIFACT_TYPES[name]), name)
    raise AttributeError(f"module 'signpipe' has no attribute {name!r}")
