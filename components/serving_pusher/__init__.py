"""Pushes blessed models to a TF Serving model directory, atomically, with a model card."""
