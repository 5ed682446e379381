"""signpipe.pipeline."""
