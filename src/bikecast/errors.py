"""The one base class of the failures a user can act on, and the CLI's exit statuses.

Every module raises its own subclass (DataError, ConfigError, ModelError, ...); the CLI
catches this base alone and prints one line with no traceback, exit status EXIT_ERROR.
Packages whose modules share one error (`bikecast.gitops`, `bikecast.review.compare`)
define it here, so no module of theirs has to import a sibling just for the class.
"""

# Exit statuses of `bikecast` commands, so a workflow can tell an answer from a failure
# (2 is click's usage error). `bikecast outcome --false-code 3` turns EXIT_NO into a
# step output instead of a failed step.
EXIT_OK = 0
EXIT_ERROR = 1  # could not do it: the message on stderr says why
EXIT_NO = 3  # a clean "no": no new data (`advance`), the gate failed (`compare`)


class BikecastError(Exception):
    """An expected failure whose message names the file, field, URL or revision at fault."""


class GitopsError(BikecastError, RuntimeError):
    """A workflow helper could not do its job; the message says what and where."""


class CompareError(BikecastError, RuntimeError):
    """The comparison cannot be made; the message names the revision and the file."""
