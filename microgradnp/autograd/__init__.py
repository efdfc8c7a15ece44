"""Reverse-mode automatic differentiation: the graph walk, grad modes, custom Functions."""

from microgradnp.autograd import (
    functional,  # mg.autograd.functional, as torch.autograd.functional
    graph,  # mg.autograd.graph, as torch.autograd.graph
)
from microgradnp.autograd.compile import Compiled, TraceError, compile
from microgradnp.autograd.engine import backward, grad
from microgradnp.autograd.function import Function
from microgradnp.autograd.grad_mode import (
    detect_anomaly,
    enable_grad,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
    set_detect_anomaly,
    set_grad_enabled,
)
from microgradnp.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck
from microgradnp.autograd.graph import Variable, is_multithreading_enabled, set_multithreading_enabled

__all__ = [
    "Compiled",
    "Function",
    "GradcheckError",
    "TraceError",
    "Variable",
    "backward",
    "compile",
    "detect_anomaly",
    "enable_grad",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "is_anomaly_check_nan_enabled",
    "is_anomaly_enabled",
    "is_grad_enabled",
    "is_multithreading_enabled",
    "no_grad",
    "set_detect_anomaly",
    "set_grad_enabled",
    "set_multithreading_enabled",
]
