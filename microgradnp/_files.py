"""Writing files so that a crash never leaves a half-written one."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import socket
import stat
import sys
import time
from contextlib import suppress

STALE_AFTER_SECONDS = 24 * 60 * 60
"""A temporary file untouched for this long is left over from a crash, whoever wrote it."""


def write_atomically(target, write) -> None:
    """Replace the file ``target`` with what ``write(binary_file)`` writes, atomically:
    a temporary file beside it, flushed and fsynced, then renamed over it. On any error
    (Ctrl-C included) the old file is intact and the temporary file removed.

    A ``target`` that is a symlink is written through to the file it points to, as
    opening the path would (``torch.save``): the temporary file goes in the directory of
    that file and is renamed over it, so the symlink stays a symlink. A dangling symlink
    (FileNotFoundError) or a symlink loop (OSError) is refused, as is a target that is
    not a regular file: a directory (IsADirectoryError), a character or block device
    (``/dev/null``), a FIFO or a socket (OSError); none of them is ever replaced.

    Temporary files that a killed writer left beside the target are removed first (see
    ``_remove_stale_temporaries``); those of a save still running elsewhere are kept."""
    requested = os.fspath(target)
    if not requested or os.path.basename(requested) in ("", ".", ".."):
        raise IsADirectoryError(f"cannot write to {requested!r}: give a file name (e.g. 'model.npz')")
    target = _resolve_symlink(requested)
    mode = _existing_mode(requested, target)
    directory, base = os.path.split(target)
    directory = directory or os.curdir
    _remove_stale_temporaries(directory, base)
    temporary, fd = _create_temporary(directory, base)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        if mode is not None:
            os.chmod(temporary, stat.S_IMODE(mode))  # an existing file keeps its permission bits
        os.replace(temporary, target)
    except BaseException:
        # BaseException too: Ctrl-C half way through must not leave a stray temporary file.
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def _resolve_symlink(path: str) -> str:
    """The file a symlink ``path`` points to (through every link of a chain), or ``path``."""
    if not os.path.islink(path):
        return path
    try:
        return os.path.realpath(path, strict=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"cannot write {path!r}: it is a dangling symlink (to {_link_text(path)!r}, "
                                "which does not exist); give the path of a regular file") from None
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        raise OSError(f"cannot write {path!r}: it is a symlink loop; give the path of a regular file") from None


def _link_text(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"))


def _existing_mode(requested: str, target: str) -> int | None:
    """The mode of the regular file at ``target``, or None when there is none yet. Anything
    else there is refused: renaming over ``/dev/null`` (as root) would put a regular file
    in its place, and a directory cannot hold a checkpoint."""
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        directory = os.path.dirname(target) or os.curdir
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"cannot write {requested!r}: directory {directory!r} does not exist") from None
        return None
    through = f" (a symlink to {target!r})" if target != requested else ""
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"cannot write {requested!r}{through}: it is a directory; give the path of a "
                                "regular file")
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise OSError(f"cannot write {requested!r}{through}: it is {kind}, which is never replaced; give the "
                      "path of a regular file")
    return mode


# A temporary file is named ``.<target name>.<pid>@<host>.<random>.tmp``: the writer's
# process id and a short hash of its host name, so that a later save can tell a file left
# by a killed writer from one being written right now (by another process, or another
# thread of this one). Older versions wrote ``.<target name>.<random>.tmp``.
_HOST = hashlib.sha256(socket.gethostname().encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _temporary_pattern(base: str) -> re.Pattern:
    return re.compile(rf"\.{re.escape(base)}\.(?:(\d{{1,10}})@([0-9a-f]{{8}})\.)?[0-9a-f]{{8}}\.tmp")


def _create_temporary(directory: str, base: str) -> tuple[str, int]:
    """A new file next to the target; created by ``os.open`` so that it gets the usual
    umask-derived permissions (``tempfile.mkstemp`` would make every checkpoint 0600)."""
    while True:
        name = f".{base}.{os.getpid()}@{_HOST}.{secrets.token_hex(4)}.tmp"
        temporary = os.path.join(directory, name)
        try:
            return temporary, os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                                      0o666)
        except FileExistsError:
            continue


def _remove_stale_temporaries(directory: str, base: str) -> None:
    """Delete the temporary files of earlier saves to ``base`` whose writer is gone.

    The rule, so that a save in progress is never disturbed: a temporary file written on
    this host by a process that no longer exists is stale; any temporary file (from this
    host or another one sharing the directory, whose processes we cannot see, or with a
    name from an older version) untouched for ``STALE_AFTER_SECONDS`` is stale too, which
    also covers a dead writer whose pid was since reused. A writer keeps its file's
    modification time fresh while it writes, and a live process on this host (this one
    included: another thread may be saving the same path) keeps its file. A zombie
    process counts as alive until its parent reaps it. Best effort: failing to list or
    delete is no reason to fail the save."""
    pattern, prefix = _temporary_pattern(base), f".{base}."
    now = time.time()
    with suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            # startswith first: a folder of many outputs (a sweep's cells) is scanned on every write.
            match = pattern.fullmatch(entry.name) if entry.name.startswith(prefix) else None
            if match is None:
                continue
            with suppress(OSError):
                if not entry.is_file(follow_symlinks=False):
                    continue
                pid, host = match.groups()
                writer_gone = host == _HOST and _process_exists(int(pid)) is False
                if writer_gone or now - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER_SECONDS:
                    os.unlink(entry.path)


def _process_exists(pid: int) -> bool | None:
    """Whether process ``pid`` exists on this host; None when that cannot be told."""
    if sys.platform == "win32" or pid <= 0:
        return None  # on Windows os.kill(pid, 0) would terminate the process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    except (OSError, OverflowError):
        return None
    return True


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
