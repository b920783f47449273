"""The training step's optional fast paths, all off by default (exact fp32, eager, NCHW).

precision      "bf16": the main passes (D on reals/fakes, G through D) under torch.autocast in
               bfloat16 (CPU or CUDA; same exponent range as fp32, so no loss scaling);
               "fp16": float16 autocast with one torch.amp.GradScaler per network (CUDA only).
               The lazy regularisers (R1, path length: gradients of gradients) stay fp32 in both:
               they run every 16 / 4 steps, and a double backward in 16 bits is where precision
               breaks first (the AMP gradient-penalty recipe needs the inner gradient rescaled).
channels_last  G, D and G_ema keep their 4-D weights, and the step its reals, channels-last
               (the layout tensor cores and oneDNN convolutions prefer).
compile        torch.compile(backend=...) of G.synthesis and D for the main passes; the
               regularisers use the eager modules (AOT autograd has no double backward).
tf32, cudnn_benchmark   process-wide CUDA switches, set for the run and restored after it.

What a run used (and the backend flags in force) is recorded by `numerics` in run.json and in
every checkpoint's meta.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from .errors import TrainingError

PRECISIONS = ("fp32", "bf16", "fp16")
_AUTOCAST = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class FastOptions:
    precision: str = "fp32"
    channels_last: bool = False
    compile: str | None = None
    tf32: bool = False
    cudnn_benchmark: bool = False

    def check(self, device: torch.device) -> None:
        """One-line TrainingErrors for options this device or this torch cannot honour."""
        if self.precision not in PRECISIONS:
            raise TrainingError(
                f"--precision {self.precision!r} is unknown; use one of {', '.join(PRECISIONS)}"
            )
        if self.precision == "fp16" and device.type != "cuda":
            raise TrainingError(
                "--precision fp16 needs a CUDA device (GradScaler); on CPU use --precision bf16"
            )
        if self.compile:
            import torch._dynamo

            known = torch._dynamo.list_backends(exclude_tags=())
            if self.compile not in known:
                raise TrainingError(
                    f"--compile {self.compile!r} is not a torch.compile backend; "
                    f"e.g. inductor, aot_eager, eager"
                )


class FastPath:
    """What a training step takes from the options: the autocast context, per-network loss
    scaling and optimizer steps, and the compiled forwards of the main passes (None: eager)."""

    def __init__(self, options: FastOptions | None = None, nets=None, device=None):
        self.options = options = options or FastOptions()
        self.device_type = torch.device(device or "cpu").type
        self.dtype = _AUTOCAST[options.precision]
        fp16 = options.precision == "fp16"
        self.scalers = {n: torch.amp.GradScaler(self.device_type) for n in "GD"} if fp16 else {}
        self.synthesis = self.critic = None
        if nets is not None and options.compile:
            self.synthesis = torch.compile(nets.G.synthesis, backend=options.compile)
            self.critic = torch.compile(nets.D, backend=options.compile)

    def autocast(self, main: bool):
        """Reduced-precision autocast for a main pass; a no-op for fp32 and the regularisers."""
        enabled = main and self.dtype is not None
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=enabled)

    def backward(self, net: str, objective: torch.Tensor, main: bool) -> None:
        scaler = self.scalers.get(net) if main else None
        (scaler.scale(objective) if scaler else objective).backward()

    def step(self, net: str, opt: torch.optim.Optimizer, main: bool) -> None:
        """opt.step(), through the network's GradScaler after a scaled (fp16 main) backward: it
        unscales, skips the step if a gradient overflowed, and adapts the scale."""
        scaler = self.scalers.get(net) if main else None
        if scaler is None:
            opt.step()
        else:
            scaler.step(opt)
            scaler.update()

    def state_dict(self) -> dict:
        return {n: s.state_dict() for n, s in self.scalers.items()}

    def load_state_dict(self, state: dict | None) -> None:
        for n, s in self.scalers.items():
            if (state or {}).get(n):
                s.load_state_dict(state[n])


def to_channels_last(*nets: torch.nn.Module) -> None:
    """Give every 4-D parameter and buffer the channels-last layout (values unchanged).

    The discriminator flattens its last 4×4 map with `.view`, which needs an NCHW-contiguous
    tensor, so its `final_conv` output is made contiguous (a 4×4 map: no measurable cost)."""
    for net in nets:
        for t in [*net.parameters(), *net.buffers()]:
            if t.dim() == 4:
                t.data = t.data.contiguous(memory_format=torch.channels_last)
        final = getattr(net, "final_conv", None)
        if isinstance(final, torch.nn.Module):
            final.register_forward_hook(lambda _module, _inputs, out: out.contiguous())


@contextlib.contextmanager
def backend_flags(options: FastOptions):
    """Set TF32 and cudnn.benchmark for the run (off: exact, reproducible fp32), then restore."""
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = matmul.allow_tf32, cudnn.allow_tf32, cudnn.benchmark
    matmul.allow_tf32 = cudnn.allow_tf32 = bool(options.tf32)
    cudnn.benchmark = bool(options.cudnn_benchmark)
    try:
        yield
    finally:
        matmul.allow_tf32, cudnn.allow_tf32, cudnn.benchmark = saved


def numerics(options: FastOptions) -> dict:
    """The fast-path options and the backend flags in force, for run.json and checkpoints."""
    return {
        "precision": options.precision,
        "autocast_passes": "D, G" if _AUTOCAST[options.precision] else "none",
        "channels_last": bool(options.channels_last),
        "compile": options.compile,
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
        "float32_matmul_precision": str(torch.get_float32_matmul_precision()),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
    }
