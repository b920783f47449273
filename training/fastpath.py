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

The options are fields of the config's `train:` section (common.settings.Train: their one default,
help and allowed values); everything here takes that section whole. What a run used (and the
backend flags in force) is recorded by `numerics` in run.json and in every checkpoint's meta.
"""

from __future__ import annotations

import contextlib

import torch

from common import allocator, settings

from .errors import TrainingError

# The precisions are the Train section's (its schema's enum); what each runs under is here.
PRECISIONS = tuple(settings.schema_of(settings.Train)["properties"]["precision"]["enum"])
_AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}  # fp32: no autocast
assert set(_AUTOCAST) < set(PRECISIONS), (_AUTOCAST, PRECISIONS)


def check_fast(cfg: settings.Train, device: torch.device) -> None:
    """One-line TrainingErrors for fast-path options this device or this torch cannot honour
    (a Train built in Python skips the schema, so the precision is checked here too)."""
    if cfg.precision not in PRECISIONS:
        raise TrainingError(
            f"--precision {cfg.precision!r} is unknown; use one of {', '.join(PRECISIONS)}"
        )
    if cfg.precision == "fp16" and device.type != "cuda":
        raise TrainingError(
            "--precision fp16 needs a CUDA device (GradScaler); on CPU use --precision bf16"
        )
    if cfg.compile:
        import torch._dynamo

        known = torch._dynamo.list_backends(exclude_tags=())
        if cfg.compile not in known:
            raise TrainingError(
                f"--compile {cfg.compile!r} is not a torch.compile backend; "
                f"e.g. inductor, aot_eager, eager"
            )


class FastPath:
    """What a training step takes from the Train section's fast-path fields (`options`, the
    section whole; default: Train()): the autocast context, per-network loss scaling and
    optimizer steps, and the compiled forwards of the main passes (None: eager)."""

    def __init__(self, options: settings.Train | None = None, nets=None, device=None):
        self.options = options = options or settings.Train()
        self.device_type = torch.device(device or "cpu").type
        self.dtype = _AUTOCAST.get(options.precision)
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
def backend_flags(cfg: settings.Train):
    """Set TF32 and cudnn.benchmark for the run (off: exact, reproducible fp32), then restore;
    a caller that wants one switch on replaces it in a Train (`dataclasses.replace`)."""
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = matmul.allow_tf32, cudnn.allow_tf32, cudnn.benchmark
    matmul.allow_tf32 = cudnn.allow_tf32 = bool(cfg.tf32)
    cudnn.benchmark = bool(cfg.cudnn_benchmark)
    try:
        yield
    finally:
        matmul.allow_tf32, cudnn.allow_tf32, cudnn.benchmark = saved


def numerics(cfg: settings.Train) -> dict:
    """The Train section's fast-path fields, the backend flags in force and the CPU allocator's
    settings, for run.json and checkpoints."""
    return {
        "precision": cfg.precision,
        "autocast_passes": "D, G" if _AUTOCAST.get(cfg.precision) else "none",
        "channels_last": bool(cfg.channels_last),
        "compile": cfg.compile,
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
        "float32_matmul_precision": str(torch.get_float32_matmul_precision()),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cpu_allocator": allocator.state(),  # common.allocator: bit-identical, fewer page faults
    }
