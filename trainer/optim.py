"""torch.optim's SGD and AdamW, without the import of ``torch._dynamo`` their first call makes.

torch guards its optimisers against ``torch.compile``: ``add_param_group`` (called by the
constructor), ``zero_grad``, ``state_dict`` and ``load_state_dict`` through ``torch._disable_dynamo``,
``step`` through ``_use_grad_for_differentiable``. Each guard imports ``torch._dynamo`` (with sympy
and triton) on its first call, compiled or not: ~1 s of CPU in every process that trains, as much
as importing torch itself, and on the critical path of every sweep worker's start. orderlab never
compiles an optimiser, so these classes call the very functions the guards wrap. The arithmetic
is torch's own: parameters and state are bit-identical to torch's classes (tested), and state dicts
load either way. Where a torch release (or a patch) wraps or replaces these methods with anything
but torch.optim's own functions in these guards, the class here is torch's own class, unchanged
(slower to start, never different).
"""
from __future__ import annotations

import functools

import torch


def _guard_codes() -> frozenset:
    """The code objects of torch's wrappers (``functools.wraps`` copies the wrapped function's names
    onto a wrapper, its code stays its own); empty where this torch lacks one of them."""
    def probe(*args, **kwargs):
        return None
    try:
        from torch._compile import _disable_dynamo
        from torch.optim.optimizer import _use_grad_for_differentiable
        wrappers = (_disable_dynamo(probe),                        # add_param_group, zero_grad, state_dict, ...
                    _use_grad_for_differentiable(probe),           # step: grad mode and graph breaks
                    torch.optim.Optimizer.profile_hook_step(probe))  # step hooks: Optimizer.__init__ adds them again
        return frozenset(w.__code__ for w in wrappers)
    except (ImportError, AttributeError, TypeError):
        return frozenset()


_GUARDS = _guard_codes()
_GUARDED = ("add_param_group", "zero_grad", "state_dict", "load_state_dict")


def _unguarded(f):
    """``f`` without torch's guards; None unless what remains is torch.optim's own function (not
    wrapped in anything else, not replaced by someone's patch)."""
    while getattr(f, "__code__", None) in _GUARDS:
        f = getattr(f, "__wrapped__", None)
    if f is None or hasattr(f, "__wrapped__") or not getattr(f, "__module__", "").startswith("torch.optim."):
        return None
    return f


def _grad_mode_step(step):
    """What ``_use_grad_for_differentiable`` does in eager mode: the step runs with autograd on only
    for a differentiable optimiser (its graph breaks matter only to a compiler)."""
    @functools.wraps(step)
    def guarded_step(self, *args, **kwargs):
        with torch.set_grad_enabled(self.defaults["differentiable"]):
            return step(self, *args, **kwargs)
    return guarded_step


def _without_dynamo(base: type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    if not _GUARDS:
        return base
    methods = {name: _unguarded(getattr(base, name)) for name in _GUARDED}
    step = _unguarded(base.step)
    if step is None or any(m is None for m in methods.values()):
        return base
    return type(base.__name__, (base,), {**methods, "step": _grad_mode_step(step), "__module__": __name__,
                                         "__doc__": f"torch.optim.{base.__name__}; see {__name__}."})


SGD = _without_dynamo(torch.optim.SGD)
AdamW = _without_dynamo(torch.optim.AdamW)
