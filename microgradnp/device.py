"""PyTorch's ``device`` for the one device microgradnp has, the CPU: ``t.device``,
``mg.zeros(3, device="cpu")``, ``nn.Linear(2, 3, device=x.device)`` and
``mg.cuda.is_available()`` work as in PyTorch code written for any device; naming
another device raises at once, saying that microgradnp runs on the CPU only."""

from __future__ import annotations

import functools
import inspect

__all__ = ["device", "takes_device"]


class device:
    """``mg.device("cpu")``, ``mg.device("cpu", 0)``, ``mg.device("cpu:0")``: equal to each
    other's type, printed as PyTorch prints it. ``type`` is "cpu", ``index`` the number
    given or None."""

    __slots__ = ("index",)
    type = "cpu"

    def __init__(self, type="cpu", index=None):  # noqa: A002  (torch.device's argument names)
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index  # noqa: A001
        if isinstance(type, int) and not isinstance(type, bool):  # torch.device(0): the first accelerator
            raise RuntimeError(_elsewhere(f"device({type})"))
        if not isinstance(type, str):
            raise TypeError(f"device(): expected a str such as 'cpu', got {_name(type)}")
        name, colon, number = type.partition(":")
        if name != "cpu":
            raise RuntimeError(_elsewhere(repr(type)))
        if colon:
            if index is not None or not number.isdigit():
                raise RuntimeError(f"Invalid device string: {type!r}")
            index = int(number)
        if index is not None and (not isinstance(index, int) or isinstance(index, bool) or index < 0):
            raise RuntimeError(f"Device index must not be negative (and must be an int), got {index!r}")
        self.index = index

    def __eq__(self, other) -> bool:
        return isinstance(other, device) and other.index == self.index

    def __hash__(self) -> int:
        return hash(("cpu", self.index))

    def __repr__(self) -> str:
        return "device(type='cpu')" if self.index is None else f"device(type='cpu', index={self.index})"

    def __str__(self) -> str:
        return "cpu" if self.index is None else f"cpu:{self.index}"


CPU = device("cpu")


def check_device(value, where: str) -> None:
    """Accept None, "cpu" (with an index) and ``mg.device("cpu")``; anything else raises."""
    if value is None or isinstance(value, device):
        return
    if isinstance(value, str):
        device(value)  # raises for another device or a malformed name
        return
    if isinstance(value, int) and not isinstance(value, bool):
        raise RuntimeError(_elsewhere(f"{where}(device={value})"))
    raise TypeError(f"{where}(): device must be a str such as 'cpu' or an mg.device, got {_name(value)}")


def takes_device(fn):
    """Let a constructor take PyTorch's ``device=`` keyword (the CPU only)."""

    @functools.wraps(fn)
    def call(*args, device=None, **kwargs):
        if device is not None:
            check_device(device, fn.__name__)
        return fn(*args, **kwargs)

    call.__signature__ = with_device_keyword(inspect.signature(fn))
    return call


def with_device_keyword(signature: inspect.Signature) -> inspect.Signature:
    """``signature`` with a keyword-only ``device=None`` (before any ``**kwargs``)."""
    parameters = list(signature.parameters.values())
    keyword = inspect.Parameter("device", inspect.Parameter.KEYWORD_ONLY, default=None)
    at = next((i for i, p in enumerate(parameters) if p.kind is inspect.Parameter.VAR_KEYWORD), len(parameters))
    return signature.replace(parameters=[*parameters[:at], keyword, *parameters[at:]])


def _elsewhere(what: str) -> str:
    return (f"{what}: microgradnp runs on the CPU only (NumPy arrays); use 'cpu', or leave device out "
            "(mg.cuda.is_available() is False, so code choosing a device picks the CPU)")


def _name(value) -> str:
    return type(value).__name__


class cuda:
    """``mg.cuda.is_available()`` is False and ``mg.cuda.device_count()`` 0, so that code
    choosing its device (``"cuda" if torch.cuda.is_available() else "cpu"``) picks the CPU."""

    @staticmethod
    def is_available() -> bool:
        return False

    @staticmethod
    def device_count() -> int:
        return 0
