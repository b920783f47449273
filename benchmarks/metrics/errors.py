"""The single error type of the quality pipeline.

The CLI turns it into one line on stderr and exit code 2, so its message must be a complete,
single-line sentence that tells the user what to fix (path, URL, allowed values).
"""


class QualityError(Exception):
    """Bad input or a missing/corrupt resource, detected before any output is written."""
