"""Entry points import common.cli first: Ctrl-C while the rest imports is then one line."""

import common.cli  # noqa: F401
