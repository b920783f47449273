"""Activation memory on the meta device at batch 1 (so any resolution is free): bytes autograd
saves in one training forward of G, and the peak of live op outputs in one inference forward."""

from models import activations

from ..registry import Column, register_measure

MIB = 2**20


@register_measure(
    "memory",
    label="Activation memory",
    unit="MiB",
    lower_is_better=True,
    protocol="bytes on the meta device at batch 1: storages autograd saves in one training "
    "forward of G (parameters excluded), and the peak of live op outputs in one no-grad inference "
    "forward (no allocator rounding or workspaces); the exact method is in the profile",
    keys=["activation_bytes"],
    # exact byte counts on meta, shown to 0.1 MiB
    columns=[
        Column(
            "train_saved_MiB",
            "Train activations saved",
            "MiB",
            key="activation_bytes.train_saved",
            scale=1 / MIB,
            fmt="fixed1",
            plot=True,
        ),
        Column(
            "inference_peak_MiB",
            "Inference peak activations",
            "MiB",
            key="activation_bytes.inference_peak_live",
            scale=1 / MIB,
            fmt="fixed1",
        ),
    ],
)
def memory(ctx):
    return {
        "activation_bytes": activations.activation_bytes(ctx.model, ctx.resolution, **ctx.build)
    }
