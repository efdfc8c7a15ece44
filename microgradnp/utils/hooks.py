"""``RemovableHandle``: what registering a hook returns, as ``torch.utils.hooks``."""

from __future__ import annotations

import itertools

__all__ = ["RemovableHandle"]


class RemovableHandle:
    """Removes the hook it was returned for: ``handle.remove()``, or leave a ``with
    handle:`` block. The hook lives in ``hooks_dict`` under ``handle.id``; ``extra_dict``
    names further dicts (or sets) keyed by the same id (the hook's options), cleaned up too.
    Removing twice does nothing."""

    _ids = itertools.count()

    def __init__(self, hooks_dict: dict, *, extra_dict=None):
        self.hooks_dict = hooks_dict
        self.id = next(RemovableHandle._ids)
        extras = () if extra_dict is None else extra_dict if isinstance(extra_dict, list | tuple) else (extra_dict,)
        self.extra_dicts = tuple(extras)
        self._on_remove = None  # called after removing (a module recounts its hooks)

    def remove(self) -> None:
        self.hooks_dict.pop(self.id, None)
        for extra in self.extra_dicts:
            if isinstance(extra, dict):
                extra.pop(self.id, None)
            else:
                extra.discard(self.id)
        if self._on_remove is not None:
            self._on_remove()

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"<RemovableHandle id={self.id}>"
