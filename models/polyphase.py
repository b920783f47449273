"""StyleGAN2's stride-2 3×3 transposed conv as four small ordinary convolutions (polyphase), for
no-grad CPU inference.

A stride-2 transposed conv writes each output pixel from the kernel taps of one parity: with
output row y = 2·i + k (input row i, tap k ∈ {0, 1, 2}), even rows read taps 2 and 0 of two
neighbouring input rows and odd rows read tap 1 of one. So the (2H+1)² output is four
interleaved grids, each an ordinary convolution of the input: 2×2 taps for (even, even), 2×1 and
1×2 for the mixed ones, 1×1 for (odd, odd), 9 taps in all, the transposed conv's MACs plus the
zero-padded border (+1 % at 128 px). Same sums, in another order: equal to float rounding.

Why: oneDNN's CPU transposed conv ran StyleGAN2's 256 → 128-channel layer (128 → 257 px) at
~47 GMAC/s on a 2-core AMD EPYC, against ~87 for the same MACs as these four convolutions
(103 → 76 ms with the interleave, one process, alternating rounds). The 512 → 256 one at 64 px
runs at ~88 either way, the 512-channel one at 32 px gains 43 → 39 ms, and below that the layers
are too small to matter (at 8 px it loses 0.4 ms). The whole 256-px forward: 1.075× at batch 1,
1.037× at batch 4.

Eval under no_grad on CPU only: autograd, the MAC counters (they count a train-mode forward: the
official transposed conv's MACs), torch.compile and CUDA keep `F.conv_transpose2d`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .coords import can_keep, kept

# (rows, cols) of the 3×3 kernel each output parity reads, in correlation order; padding
EVEN, ODD = [2, 0], [1]
PHASES = {  # output (row parity, col parity) → taps (rows, cols), padding (rows, cols)
    (0, 0): ((EVEN, EVEN), (1, 1)),
    (0, 1): ((EVEN, ODD), (1, 0)),
    (1, 0): ((ODD, EVEN), (0, 1)),
    (1, 1): ((ODD, ODD), (0, 0)),
}


def applies(owner: torch.nn.Module, x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether `owner`'s layer takes the polyphase path for this call: where it keeps results
    (`coords.can_keep`: eval, not traced by torch.compile), with no autograd at all, on CPU."""
    return (
        x.device.type == "cpu"
        and not torch.is_grad_enabled()
        and can_keep(owner, [weight])
        and weight.shape[-2:] == (3, 3)
    )


def phase_weights(weight: torch.Tensor) -> list[torch.Tensor]:
    """The four ordinary conv kernels (out, in, kh, kw) of a transposed conv weight
    (in, out, 3, 3), in PHASES order, channels-last (the layout oneDNN takes on CPU)."""
    w = weight.transpose(0, 1)
    return [
        w[:, :, rows][:, :, :, cols].contiguous(memory_format=torch.channels_last)
        for (rows, cols), _ in PHASES.values()
    ]


def transposed_conv(owner: torch.nn.Module, x: torch.Tensor, weight: torch.Tensor):
    """`F.conv_transpose2d(x, weight, stride=2)` as `owner`'s layer runs it: polyphase where it
    `applies`, with the four kernels kept on `owner` (`coords.kept`) while `weight` is the same."""
    if not applies(owner, x, weight):
        return F.conv_transpose2d(x, weight, stride=2)
    key = (str(weight.device), weight.dtype)
    phases = kept(owner, "_phase_weights", [weight], key, lambda: phase_weights(weight))
    return conv_transpose_stride2(x, weight, phases)


def conv_transpose_stride2(x: torch.Tensor, weight: torch.Tensor, phases=None) -> torch.Tensor:
    """`F.conv_transpose2d(x, weight, stride=2)` for a (in, out, 3, 3) weight, computed as four
    convolutions written into one channels-last output. `phases`: `phase_weights(weight)`, if
    the caller keeps them."""
    phases = phase_weights(weight) if phases is None else phases
    b, _, h, w = x.shape
    size = (b, weight.shape[1], 2 * h + 1, 2 * w + 1)
    out = torch.empty(size, dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
    for ((py, px), (_, pad)), kernel in zip(PHASES.items(), phases, strict=True):
        out[:, :, py::2, px::2] = F.conv2d(x, kernel, padding=pad)
    return out
