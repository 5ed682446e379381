"""Tests of signpipe/."""
