"""Using a trained model: local prediction, the TF Serving client and saliency explanations."""
