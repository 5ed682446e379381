"""Project exceptions: each message names the file or field at fault and what to do."""


class SignpipeError(Exception):
    """Base of every error signpipe raises on purpose; the CLI prints it without a traceback."""


class ConfigError(SignpipeError):
    """A configuration value or file is invalid."""


class DataRootError(SignpipeError):
    """The image folder cannot be ingested: missing, empty, or a class with no usable image."""


class DataValidationError(SignpipeError):
    """The data broke the schema or a project check and the run was stopped before training."""


class EnvironmentSetupError(SignpipeError):
    """Something the pipeline needs is not installed or not reachable."""


class ServingError(SignpipeError):
    """A model server or model cannot answer: the message names the server, model and cause."""


class RunInProgressError(SignpipeError):
    """Another run of the same pipeline home is in progress."""


class OrchestratorError(SignpipeError):
    """Kubeflow Pipelines cannot be reached or refused a request: names the host and cause."""
