"""Atomic file writes: a killed run leaves either the old file or the new one, never half.

Every stage writes through these helpers: the data goes to a temporary file in the target's
directory, is flushed to disk, then renamed over the target (rename is atomic on POSIX).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it over `target` only on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # keep the suffix: some writers (xgboost) pick the format from it
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)  # mkstemp makes 0600; outputs are ordinary readable files
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_with(target: str | Path, writer: Callable[[Path], Any]) -> Path:
    """Call `writer(tmp_path)` and atomically move the result to `target`."""
    with atomic_path(target) as tmp:
        writer(tmp)
    return Path(target)


def write_parquet(frame: pd.DataFrame, target: str | Path) -> Path:
    if Path(target).is_dir():  # a Dask run wrote a dataset here before
        _remove(Path(target))
    return write_with(target, lambda p: frame.to_parquet(p, index=False))


def write_parquet_dataset(frame: Any, target: str | Path) -> Path:
    """A Dask frame → a directory of parquet parts at `target`, written beside it first.

    The old output (file or directory) is swapped out only once the new one is complete.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    old = target.with_name(f".{target.name}.old")
    try:
        frame.to_parquet(str(tmp), write_index=False, overwrite=True)
        for part in tmp.rglob("*"):
            os.chmod(part, 0o755 if part.is_dir() else 0o644)
        os.chmod(tmp, 0o755)
        _remove(old)
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
    finally:
        _remove(tmp)
        _remove(old)
    return target


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def write_csv(frame: pd.DataFrame, target: str | Path) -> Path:
    return write_with(target, lambda p: frame.to_csv(p, index=False, lineterminator="\n"))


def write_json(obj: Any, target: str | Path) -> Path:
    text = json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n"
    return write_with(target, lambda p: p.write_text(text))


def write_text(text: str, target: str | Path) -> Path:
    return write_with(target, lambda p: p.write_text(text))
