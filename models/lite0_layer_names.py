"""Names of Lite0's weighted layers against the PyTorch port's checkpoint modules.

Keras scope names may not start with "_" or contain ".", hence a translation at all.
"""

import re

_TOP_PARTS = ("conv_stem", "bn0", "conv_head", "bn1", "fc")
_BLOCK_PARTS = ("expand_conv", "bn0", "depthwise_conv", "bn1", "project_conv", "bn2")
_INDEX = r"(0|[1-9][0-9]*)"  # no leading zeros, so the mapping stays one-to-one
_CHECKPOINT_BLOCK = re.compile(rf"_blocks\.{_INDEX}\._({'|'.join(_BLOCK_PARTS)})")
_LAYER_BLOCK = re.compile(rf"blocks_{_INDEX}_({'|'.join(_BLOCK_PARTS)})")


def checkpoint_to_layer_name(module: str) -> str:
    """Map a checkpoint module to its layer: `_blocks.3._bn1` -> `blocks_3_bn1`, `_fc` -> `fc`."""
    match = _CHECKPOINT_BLOCK.fullmatch(module)
    if match:
        return f"blocks_{match[1]}_{match[2]}"
    if module.startswith("_") and module[1:] in _TOP_PARTS:
        return module[1:]
    raise ValueError(f"{module!r} is not an EfficientNet-Lite checkpoint module")


def layer_to_checkpoint_name(layer: str) -> str:
    """Map a weighted layer to its checkpoint module (the inverse of checkpoint_to_layer_name)."""
    match = _LAYER_BLOCK.fullmatch(layer)
    if match:
        return f"_blocks.{match[1]}._{match[2]}"
    if layer in _TOP_PARTS:
        return f"_{layer}"
    raise ValueError(f"{layer!r} is not a weighted EfficientNet-Lite layer")
