"""signpipe.models."""
