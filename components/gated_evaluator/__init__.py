"""Evaluator whose accuracy floor can be set per run, and which drops a missing baseline."""
