"""signpipe.data."""
