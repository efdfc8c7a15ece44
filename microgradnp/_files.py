"""Writing files so that a crash never leaves a half-written one."""

from __future__ import annotations

import os
import secrets
import stat
from contextlib import suppress


def write_atomically(target, write) -> None:
    """Replace the file ``target`` with what ``write(binary_file)`` writes, atomically:
    a temporary file beside it, flushed and fsynced, then renamed over it. On any error
    (Ctrl-C included) the old file is intact and the temporary file removed."""
    target = os.fspath(target)
    directory, base = os.path.split(target)
    temporary, fd = _create_temporary(directory, base)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        _keep_mode_of(target, temporary)
        os.replace(temporary, target)
    except BaseException:
        # BaseException too: Ctrl-C half way through must not leave a stray temporary file.
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def _create_temporary(directory: str, base: str) -> tuple[str, int]:
    """A new file next to the target; created by ``os.open`` so that it gets the usual
    umask-derived permissions (``tempfile.mkstemp`` would make every checkpoint 0600)."""
    while True:
        temporary = os.path.join(directory, f".{base}.{secrets.token_hex(4)}.tmp")
        try:
            return temporary, os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                                      0o666)
        except FileExistsError:
            continue


def _keep_mode_of(target: str, temporary: str) -> None:
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISREG(mode):
        os.chmod(temporary, stat.S_IMODE(mode))


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable; a no-op where directories cannot be opened (Windows)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory; the data itself is already synced
    finally:
        os.close(fd)


def write_bytes_atomically(target, content: bytes) -> None:
    """``write_atomically`` for content already in memory."""
    write_atomically(target, lambda file: file.write(content))
