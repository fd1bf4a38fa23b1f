"""Files that survive a kill: whole-file replacement, and one message when damaged."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable


def partial_path(path: str | Path) -> Path:
    """Where `path` is written before it replaces the real file (same suffixes)."""
    path = Path(path)
    # The same name ending, as Keras checks `.keras` and `.weights.h5` suffixes.
    return path.with_name(f".partial-{path.name}")


def write_atomically(path: str | Path, write: Callable[[Path], object]) -> None:
    """Call `write(tmp)` and rename tmp over `path`: a kill leaves old or new."""
    path, tmp = Path(path), partial_path(path)
    write(tmp)
    os.replace(tmp, path)


def write_text_atomically(path: str | Path, text: str) -> None:
    """`Path.write_text`, but never leaves a half-written file."""
    write_atomically(path, lambda tmp: tmp.write_text(text))


def damaged_file_error(path: str | Path, cause: BaseException, advice: str):
    """The one error for a file that exists but cannot be read: names it, advises."""
    reason = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
    return ValueError(f"{path} is damaged or incomplete ({reason[:160]}). {advice}")


def read_json(path: str | Path, advice: str) -> dict:
    """The JSON object in `path`, or one clear error naming the file and `advice`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing. {advice}")
    try:
        value = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise damaged_file_error(path, error, advice) from None
    if not isinstance(value, dict):
        raise damaged_file_error(path, TypeError("not a JSON object"), advice)
    return value
