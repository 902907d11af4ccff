"""Error classes shared by the engine's parts, each mapped to an exit code by the CLI.

`UsageError` is bad input: the CLI prints it and exits 2, before anything ran. The message always
says what was wrong, where it came from (flag, file and line, environment variable) and what is
allowed. `StackmatrixError` is a failure while running (exit 1 unless caught per cell).
`exit_code(command, args)` is that mapping, shared by every entry point (`python -m matrix`,
`python -m matrix.chaos.cli`): 0/1 as the command returns, 2 on bad input, 1 on a failure, 130 on
Ctrl-C, and 1 on a bug of ours (its traceback goes to build/logs/crash.txt, out of the way).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from typing import Any


class StackmatrixError(Exception):
    """A failure while running: named cause, reported per cell."""


class UsageError(StackmatrixError):
    """Bad input: exit code 2, nothing run."""

    exit_code = 2


class ConfigError(Exception):
    """The synthesized configuration uses something an engine cannot apply: refused before any API call."""


def exit_code(command: Callable[[Any], int], args: Any) -> int:
    """Run a command (`args.func(args)`) and map what it raised to the exit code, printing the cause."""
    try:
        return command(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StackmatrixError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug of ours: say so plainly, keep the trace out of the way
        from matrix.paths import build_dir  # lazy: paths sits beside errors in the bottom layer

        log = build_dir() / "logs" / "crash.txt"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(traceback.format_exc())
        print(f"internal error: {type(exc).__name__}: {exc} (traceback in {log})", file=sys.stderr)
        return 1
