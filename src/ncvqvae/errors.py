"""Errors a user can act on.

Every error the package raises on purpose derives from :class:`NcvqvaeError`, so the
command line can print its one-line message (which names the input and the fix) instead
of a stack trace, while genuine bugs still surface with their traceback.
"""


class NcvqvaeError(Exception):
    """Base class for errors caused by the user's input, files or settings."""


class DataError(NcvqvaeError, ValueError):
    """A dataset is missing, malformed, or cannot be modelled as it is."""


class ConfigError(NcvqvaeError, ValueError):
    """A setting is unknown or out of range."""


class RunFolderError(NcvqvaeError):
    """A run folder is missing, unfinished, unwritable or would be overwritten."""


class CheckpointError(NcvqvaeError):
    """A checkpoint is corrupt, truncated, or belongs to another run."""
