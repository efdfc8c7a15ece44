"""Process-wide memory settings for processes that microgradnp owns (sweep workers)."""

from __future__ import annotations

import ctypes
import ctypes.util


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
