"""Tests of components/."""
