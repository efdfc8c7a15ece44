"""L-BFGS: a quasi-Newton method that calls a closure several times per step, as ``torch.optim.LBFGS``."""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np

from microgradnp.autograd.grad_mode import enable_grad, replayed
from microgradnp.autograd.versions import bump as bump_version
from microgradnp.optim.optimizer import LR_HINT_NO_MAXIMIZE, Optimizer, _plain

__all__ = ["LBFGS"]

# State entries: flat vectors (one number per parameter element), lists of them, scalars.
_VECTORS = ("d", "prev_flat_grad")
_VECTOR_LISTS = ("old_dirs", "old_stps")
_SCALAR_LISTS = ("ro", "al")
_SCALARS = ("t", "H_diag")


class LBFGS(Optimizer):
    """L-BFGS (Nocedal, 1980; after minFunc), as ``torch.optim.LBFGS``, with the same algorithm,
    options and numbers.

    Args:
        params: Tensors to optimize (``model.parameters()``); one parameter group only.
        lr: learning rate (the first trial step of each iteration, times the first
            iteration's ``min(1, 1 / sum|g|)``).
        max_iter: maximal number of iterations per ``step()``.
        max_eval: maximal number of closure calls per ``step()`` (default ``max_iter * 5 // 4``).
        tolerance_grad: stop when the largest gradient magnitude is at most this.
        tolerance_change: stop when the loss or the parameters change by less than this.
        history_size: number of past updates that make up the inverse-Hessian estimate.
        line_search_fn: ``None`` (fixed step ``lr``) or ``"strong_wolfe"`` (a line search
            meeting the strong Wolfe conditions, with cubic interpolation).

    ``step(closure)`` needs ``closure``: a function that zeroes the gradients, computes the
    loss, calls ``loss.backward()`` and returns the loss; it is called several times per step:

        def closure():
            optimizer.zero_grad()
            loss = loss_fn(model(X), y)
            loss.backward()
            return loss
        optimizer.step(closure)

    As in PyTorch the whole state sits under the first parameter (``state_dict()["state"][0]``:
    ``func_evals``, ``n_iter``, ``d``, ``t``, ``old_dirs``, ``old_stps``, ``ro``, ``H_diag``,
    ``prev_flat_grad``, ``prev_loss``, ``al``), the vectors flattened over all parameters.
    It keeps ``2 * history_size`` such vectors: lower ``history_size`` if memory is short.
    """

    _scalar_state = ("func_evals", "n_iter", "prev_loss")

    def __init__(self, params, lr: float = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None):
        if max_eval is None and _is_count(max_iter):
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        self._params = self.param_groups[0]["params"]

    def add_param_group(self, param_group: dict) -> None:
        """LBFGS has a single parameter group: adding a second one raises ValueError."""
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups): pass all the "
                             "parameters in one list, with the options as arguments of LBFGS(...)")
        super().add_param_group(param_group)

    def _check_options(self, options: dict) -> None:
        self._check_number(options, "lr", hint=LR_HINT_NO_MAXIMIZE)
        self._check_number(options, "tolerance_grad", hint="the default is 1e-7")
        self._check_number(options, "tolerance_change", hint="the default is 1e-9")
        for option in ("max_iter", "max_eval", "history_size"):
            if option in options and not _is_count(options[option]):
                raise ValueError(f"{self._name}: {option} must be an integer >= 1, got {options[option]!r}")
        if options.get("line_search_fn") not in (None, "strong_wolfe"):
            raise ValueError(f"{self._name}: line_search_fn must be None or 'strong_wolfe', got "
                             f"{options['line_search_fn']!r}")

    # -- flat views of the parameters ---------------------------------------------------------
    def _gather_flat_grad(self) -> np.ndarray:
        return np.concatenate([np.zeros(p.data.size, p.data.dtype) if p._grad is None else p._grad.ravel()
                               for p in self._params])

    def _add_grad(self, step_size, update: np.ndarray) -> None:
        offset = 0
        for p in self._params:
            size = p.data.size
            p.data += step_size * update[offset:offset + size].reshape(p.data.shape)
            offset += size
        bump_version(*(p.data for p in self._params))  # a graph that saved the old values must not use these

    def _set_param(self, values: list[np.ndarray]) -> None:
        for p, value in zip(self._params, values, strict=True):
            np.copyto(p.data, value)
        bump_version(*(p.data for p in self._params))

    def _directional_evaluate(self, closure: Callable, x: list[np.ndarray], t, d: np.ndarray):
        self._add_grad(t, d)
        loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # -- the step -------------------------------------------------------------------------------
    @replayed
    def step(self, closure: Callable | None = None):
        """Run up to ``max_iter`` L-BFGS iterations; returns the loss ``closure`` gave first.

        Args:
            closure: a function that zeroes the gradients, recomputes the loss, calls
                ``backward()`` on it and returns it (it runs with gradient recording on).

        Raises:
            TypeError: if ``closure`` is missing or not callable.
        """
        if not callable(closure):
            raise TypeError("LBFGS.step needs a closure that re-evaluates the model, e.g. "
                            "def closure(): opt.zero_grad(); loss = loss_fn(model(X), y); loss.backward(); "
                            "return loss  -- then opt.step(closure)")
        closure = enable_grad()(closure)
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]

        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if np.abs(flat_grad).max() <= tolerance_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        H_diag, prev_flat_grad, prev_loss = state.get("H_diag"), state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            # the descent direction
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = y.dot(s)
                if ys > 1e-10:  # update the memory
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / y.dot(y)
                if "al" not in state:
                    state["al"] = [None] * history_size
                al = state["al"]
                # the two-loop recursion: the inverse-Hessian estimate times -g
                q = -flat_grad
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = old_stps[i].dot(q) * ro[i]
                    q -= al[i] * old_dirs[i]
                d = r = q * H_diag
                for i in range(len(old_dirs)):
                    be_i = old_dirs[i].dot(r) * ro[i]
                    r += (al[i] - be_i) * old_stps[i]
            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                np.copyto(prev_flat_grad, flat_grad)
            prev_loss = loss

            # the step length
            t = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr if state["n_iter"] == 1 else lr
            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:  # the directional derivative is below tolerance
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                x_init = [p.data.copy() for p in self._params]

                def obj_func(x, t, d):
                    return self._directional_evaluate(closure, x, t, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(obj_func, x_init, t, d, loss, flat_grad, gtd,
                                                                  max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = np.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_grad(t, d)
                if n_iter != max_iter:
                    # re-evaluate only if another iteration follows (as PyTorch: in a
                    # stochastic setting the last evaluation would be wasted)
                    loss = float(closure())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = np.abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d * t).max() <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
                break  # lack of progress

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=H_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss

    # -- checkpoints ----------------------------------------------------------------------------
    def _state_dict(self) -> dict:
        """As ``Optimizer.state_dict``; the lists of vectors are copied too and scalars are
        plain numbers, so the result can be saved with ``nn.save`` or as JSON."""
        saved = super()._state_dict()
        for entries in saved["state"].values():
            for key, value in entries.items():
                if isinstance(value, list):
                    entries[key] = [v.copy() if isinstance(v, np.ndarray) else _plain(v) for v in value]
                elif isinstance(value, np.generic):
                    entries[key] = value.item()
        return saved

    def _loaded_state_value(self, name: str, index, key: str, value, p):
        dtype = np.result_type(*(q.data.dtype for q in self._params))
        size = sum(q.data.size for q in self._params)

        def vector(v):
            array = np.array(v, dtype=dtype)
            if array.shape != (size,):
                raise ValueError(f"{name}: state {key!r} holds vectors of shape {array.shape} but the parameters "
                                 f"have {size} elements in all; the state was saved for a different model")
            return array

        def scalar(v):
            return None if v is None else dtype.type(v)

        if key in _VECTORS:
            return None if value is None else vector(value)
        if key in _VECTOR_LISTS:
            return [vector(v) for v in value]
        if key in _SCALAR_LISTS:
            return [scalar(v) for v in value]
        if key in _SCALARS:
            return scalar(value)
        return _plain(value)


def _is_count(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Integral) and value >= 1


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2, clipped
    to ``bounds`` (default: between x1 and x2); their middle when the cubic has none."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """A step ``t`` along ``d`` meeting the strong Wolfe conditions (bracketing, then zooming
    with cubic interpolation), as PyTorch's port of minFunc's; returns (loss, gradient, t, calls)."""
    d_norm = np.abs(d).max()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = g_new.dot(d)

    # bracket an interval containing a point satisfying the Wolfe criteria
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        # a bracket: the Armijo condition fails (or no lower than before), or the slope turned
        armijo_fails = f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev)
        if not armijo_fails and abs(gtd_new) <= -c2 * gtd:  # the point satisfies the strong Wolfe conditions
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if armijo_fails or gtd_new >= 0:
            bracket, bracket_f, bracket_g = [t_prev, t], [f_prev, f_new], [g_prev, g_new]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        # interpolate
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new, gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1

    if ls_iter == max_ls:  # reached the most iterations
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom: refine the bracket until a point satisfies the criteria
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:  # the bracket is too small
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        # a t too close to the bracket's ends twice in a row (or outside it) moves to
        # 0.1 of the bracket's length from the nearest end
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                t = max(bracket) - eps if abs(t - max(bracket)) < abs(t - min(bracket)) else min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # Armijo condition not satisfied or not lower than the lowest point
            bracket[high_pos], bracket_f[high_pos], bracket_g[high_pos] = t, f_new, g_new
            bracket_gtd[high_pos] = gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:  # the Wolfe conditions hold
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:  # the old high becomes the new low
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos], bracket_gtd[high_pos] = bracket_g[low_pos], bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos], bracket_g[low_pos] = t, f_new, g_new
            bracket_gtd[low_pos] = gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals
