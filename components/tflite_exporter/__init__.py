"""TFLiteExporter: float, post-training and quantization-aware int8 models for phones."""
