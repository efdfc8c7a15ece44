"""Process-wide settings for processes that microgradnp owns (sweep workers): memory, and
exiting with the parent."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
import time


def keep_freed_memory() -> bool:
    """Ask glibc to serve every allocation from the heap and never give freed memory back
    to the OS. Arrays of a few hundred KB otherwise come from ``mmap`` and fault on every
    page each time they are allocated again, which can cost more than the arithmetic on
    them. Returns False where there is no glibc ``mallopt`` (the setting is then not made)."""
    path = ctypes.util.find_library("c")
    if path is None:
        return False
    try:
        libc = ctypes.CDLL(path)
    except OSError:
        return False
    if not hasattr(libc, "mallopt"):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 32 << 20) and libc.mallopt(m_trim_threshold, 1 << 30))


def exit_with_parent(parent: int, poll_seconds: float = 0.2) -> None:
    """Exit this process as soon as its parent (pid ``parent``, as the parent knew itself:
    it may die before this runs) has died, even while this process is busy: a daemon
    thread watches the parent's pid (a process whose parent died is re-parented, so the
    pid changes). A pool's workers otherwise notice only between tasks, and a sweep killed
    with SIGTERM or SIGKILL would leave them computing for minutes."""

    def watch():
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def start_worker(parent: int) -> None:
    """What a sweep worker process does first (``parent``: the pool's process id)."""
    keep_freed_memory()
    exit_with_parent(parent)
