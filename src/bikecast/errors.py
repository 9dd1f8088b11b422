"""The one base class of the failures a user can act on.

Every module raises its own subclass (DataError, ConfigError, ModelError, ...); the CLI
catches this base alone and prints one line with no traceback, exit status 1.
"""


class BikecastError(Exception):
    """An expected failure whose message names the file, field, URL or revision at fault."""
