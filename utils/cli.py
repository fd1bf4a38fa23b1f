"""How every command reports an expected error: one line on stderr, exit code 2."""

from __future__ import annotations

import functools
import sys
import traceback
from pathlib import Path
from typing import Callable

PACKAGE_DIR = Path(__file__).resolve().parent
# The packages whose commands report errors this way: this one and the
# benchmarks beside it that measure it.
PACKAGE_DIRS = (PACKAGE_DIR, PACKAGE_DIR.parent / "benchmarks")
# What the project raises on purpose, with a message that says what to do.
EXPECTED_ERRORS = (ValueError, OSError, RuntimeError)


def raised_by_project(error: BaseException) -> bool:
    """True when `error` was raised by a line of these packages, not a library."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and Path(frames[-1].filename).resolve().parent in PACKAGE_DIRS


def report_errors(main: Callable) -> Callable:
    """Wrap a command's `main(argv)`: expected errors print one line, exit 2.

    Anything else (a library's error, a bug) keeps its traceback.
    """

    @functools.wraps(main)
    def run(argv: list[str] | None = None):
        try:
            return main(argv)
        except EXPECTED_ERRORS as error:
            if not raised_by_project(error):
                raise
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(2) from None

    return run
