"""Error classes shared by the engine's parts, each mapped to an exit code by the CLI.

`UsageError` is bad input: the CLI prints it and exits 2, before anything ran. The message always
says what was wrong, where it came from (flag, file and line, environment variable) and what is
allowed. `StackmatrixError` is a failure while running (exit 1 unless caught per cell).
"""

from __future__ import annotations


class StackmatrixError(Exception):
    """A failure while running: named cause, reported per cell."""


class UsageError(StackmatrixError):
    """Bad input: exit code 2, nothing run."""

    exit_code = 2
