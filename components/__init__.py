"""signpipe.components."""
