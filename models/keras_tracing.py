"""Keep TensorFlow's AutoGraph out of Keras 2's own code, as TensorFlow does for `keras`.

AutoGraph's built-in rules skip the `keras` package but not `tf_keras`, its Keras 2 copy, nor
tfmot's quantization layers built on it, so every trace (fit, evaluate, saving a signature)
re-transpiles their internals: on 2 cores the first epoch of EfficientNet-Lite0 spent 61 of
its 88 s there. Both are written to run unconverted (tfmot uses explicit `smart_cond`).
"""

from tensorflow.python.autograph.core import config

KERAS_LIBRARIES = ("tf_keras", "tensorflow_model_optimization")


def skip_autograph_in_keras_libraries() -> None:
    """Add KERAS_LIBRARIES to AutoGraph's do-not-convert rules for this process (idempotent)."""
    rules = config.CONVERSION_RULES
    missing = [
        name
        for name in KERAS_LIBRARIES
        if not any(isinstance(rule, config.DoNotConvert) and rule.matches(name) for rule in rules)
    ]
    config.CONVERSION_RULES = (*(config.DoNotConvert(name) for name in missing), *rules)
