"""Drift of a new span against the previous one, by TFDV's distribution comparators."""
