"""Trainer whose epoch counts can be set per run (a run-time parameter on Kubeflow)."""
