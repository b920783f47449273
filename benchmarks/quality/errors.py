"""The error type of the quality pipeline.

It is a `common.cli.UsageError`: the CLI (through `common.cli.run`) turns it into one line on
stderr and exit status 2, so its message must be a complete, single-line sentence that tells
the user what to fix (path, URL, allowed values).
"""

from common.cli import UsageError


class QualityError(UsageError):
    """Bad input or a missing/corrupt resource, detected before any output is written."""
