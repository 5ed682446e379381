"""Model code: preprocessing (Transform) and the Keras model (Trainer)."""
