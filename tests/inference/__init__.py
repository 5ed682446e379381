"""Tests of inference/."""
