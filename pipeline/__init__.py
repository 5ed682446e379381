"""signpipe.pipeline: configuration, pipeline definition and runners."""
