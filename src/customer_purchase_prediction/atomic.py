"""Crash-safe writes: a file is either its previous content or its new content.

Every output is written to a hidden temporary file in the same folder, flushed to
disk and renamed into place (``os.replace``, atomic on POSIX and Windows within
one file system). A crash or ``kill -9`` mid-write leaves the previous file
intact and at worst a stray ``.<name>.<random>.tmp`` beside it, never a file cut
short. Remote paths (``s3://`` and other fsspec protocols) are written through
fsspec, whose object stores publish an object only once it is complete.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path, PurePosixPath
from typing import IO, Any

import fsspec
from kedro.io.core import get_protocol_and_path

from customer_purchase_prediction.errors import OutputPathError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files readable by the owner only; outputs get the usual mode.
_FILE_MODE = 0o666 & ~_umask()


@contextmanager
def atomic_open(
    filepath: str | os.PathLike[str], mode: str = "wb", **open_args: Any
) -> Iterator[IO[Any]]:
    """Open ``filepath`` for writing; it appears, complete, only on success.

    ``open_args`` (``encoding``, ``newline``) are those of ``open``.

    Raises:
        OutputPathError: the path is a folder, or its folder cannot be written.
    """
    if "w" not in mode:
        raise ValueError(f"atomic_open writes; mode must contain 'w', got {mode!r}")
    protocol, path = get_protocol_and_path(str(filepath))
    if protocol != "file":
        with fsspec.open(str(filepath), mode, **open_args) as remote:
            yield remote
        return
    target = Path(path)
    check_writable(target)
    descriptor, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, mode, **open_args) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, _FILE_MODE)
        os.replace(temporary, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_bytes(filepath: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``filepath`` atomically."""
    with atomic_open(filepath, "wb") as file:
        file.write(data)


def write_text(filepath: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``filepath`` atomically."""
    write_bytes(filepath, text.encode("utf-8"))


def check_writable(target: Path) -> None:
    """Refuse, naming the path, an output that is a folder or cannot be created.

    Creates the missing parent folders, as every Kedro dataset does.
    """
    if target.is_dir():
        raise OutputPathError(f"cannot write {target}: it is a folder, not a file")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(
            f"cannot write {target}: cannot create its folder {target.parent} "
            f"({exc.strerror or exc})"
        ) from exc
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise OutputPathError(
            f"cannot write {target}: its folder {target.parent} is not writable"
        )
    if target.exists() and not os.access(target, os.W_OK):
        raise OutputPathError(f"cannot write {target}: the file is read-only")


def stray_temporaries(folder: str | os.PathLike[str]) -> list[PurePosixPath]:
    """Temporary files that interrupted writes left in ``folder`` (for tests, ops)."""
    return sorted(
        PurePosixPath(found) for found in Path(folder).glob(".*.tmp") if found.is_file()
    )
