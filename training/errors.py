"""The training package's two user-facing failures; both print as one line (common.cli.run)."""

from __future__ import annotations

from common.cli import UsageError


class TrainingError(UsageError):
    """Bad user input (unknown model or key, missing data, resolution mismatch, ...): exit 2."""


class NonFiniteLossError(RuntimeError):
    """A loss became NaN/inf: training stops (exit 1) and the last written checkpoint stays the
    good one."""
