"""Activation memory of a generator (models.activations: the profile measures it, training
checks a batch against it), on the meta device at batch 1 (so any resolution is free):
what autograd saves for backward in one training forward, and the peak of live op outputs in one
inference forward. Shapes and storage sizes are all either needs, so nothing is allocated."""

from __future__ import annotations

import torch
from torch import nn
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from .registry import build


def _generator(name: str, resolution: int, **overrides) -> nn.Module:
    with torch.device("meta"):  # no memory, no init cost: only shapes are needed
        return build(name, resolution, **overrides)


def _z(g: nn.Module) -> torch.Tensor:
    return torch.zeros(1, g.z_dim, device="meta")


def forward_thunk(g: nn.Module, z: torch.Tensor, noise_mode: str):
    return lambda: g(z, noise_mode=noise_mode)


def _storage_key(t: torch.Tensor):
    return StorageWeakRef(t.untyped_storage())


def _owned_storages(module: nn.Module, *extra: torch.Tensor) -> set:
    tensors = [*module.parameters(), *module.buffers(), *extra]
    return {_storage_key(t) for t in tensors}


def saved_tensor_bytes(module: nn.Module, x: torch.Tensor, noise_mode: str = "random") -> dict:
    """Bytes autograd keeps for backward in one training forward (each storage counted once).

    Storages that belong to parameters/buffers are reported apart: they exist anyway and are
    not activations. Works on meta tensors (shapes and storage sizes are all it needs).
    """
    owned = _owned_storages(module, x)
    seen: dict = {}

    def pack(t):
        s = t.untyped_storage()
        seen.setdefault(StorageWeakRef(s), (s.nbytes(), s))  # keep s alive: keys stay unique
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = forward_thunk(module, x, noise_mode)()
    act = sum(n for k, (n, _) in seen.items() if k not in owned)
    par = sum(n for k, (n, _) in seen.items() if k in owned)
    del out
    return {
        "train_saved": act,
        "train_saved_params": par,
        "train_saved_storages": sum(1 for k in seen if k not in owned),
    }


class LiveTensorTracker(TorchDispatchMode):
    """Peak of the bytes held by tensors created inside the mode, sampled after every op.

    Each op's outputs are registered by storage; storages whose last reference has gone are
    dropped before the next sample. That is exactly what a caching allocator would have to
    hold (minus kernel workspaces and block rounding), on any device including meta.
    """

    def __init__(self, exclude: set):
        super().__init__()
        self.exclude, self.live, self.current, self.peak = exclude, {}, 0, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for key in [k for k in self.live if k.expired()]:
            self.current -= self.live.pop(key)
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                key = _storage_key(t)
                if key not in self.live and key not in self.exclude:
                    self.live[key] = t.untyped_storage().nbytes()
                    self.current += self.live[key]
        self.peak = max(self.peak, self.current)
        return out


def peak_live_bytes(module: nn.Module, x: torch.Tensor, noise_mode: str = "const") -> dict:
    """Peak live tensor bytes of one no-grad inference forward (parameters and input excluded)."""
    tracker = LiveTensorTracker(_owned_storages(module, x))
    with torch.no_grad(), tracker:
        out = forward_thunk(module, x, noise_mode)()
    return {"inference_peak_live": tracker.peak, "inference_output": out.untyped_storage().nbytes()}


ACTIVATION_METHOD = (
    "meta device, batch 1. train_saved: storages packed by torch.autograd.graph.saved_tensors_hooks "
    "during one training-mode forward of G with random noise (the G side of a G step; D not "
    "included), each storage once, parameter/buffer storages excluded (train_saved_params). "
    "inference_peak_live: a TorchDispatchMode registers every op output by storage and drops it "
    "when its last reference is gone; peak sampled after each op (eval mode, no_grad, const "
    "noise; excludes parameters, the input z, kernel workspaces and allocator rounding)."
)


def activation_bytes(name: str, resolution: int, **overrides) -> dict:
    """Both memory figures for generator `name`, built on meta with the caller's overrides (the
    modconv path is what the model would pick: on CPU/meta that is the activations path)."""
    g = _generator(name, resolution, **overrides)
    z = _z(g)
    res = saved_tensor_bytes(g.train(), z)
    res.update(peak_live_bytes(g.eval(), z))
    res["method"] = ACTIVATION_METHOD
    return res
