"""The typed run configuration: one dataclass per section, each default written exactly once.

`config/*.yaml` files are read into `RunConfig`; the workflow (Snakefile) and every entry point
take their defaults from here, so a rule or a CLI never carries a default of its own. The JSON
schema the workflow validates against is generated from these classes, so the two cannot drift;
names that plug-ins define (models, metrics, extractors) are checked against their registries.

    python -m workflow.config CONFIG.yaml   # the resolved config, every default filled in
    python -m workflow.config --schema      # the JSON schema (for editors)
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from common.cli import UsageError
from common.device import DEFAULT_DEVICE, DEVICES
from common.strict_yaml import yaml12_numbers

# The one list of square sizes: data.prepare makes any of them, a generator builds a range of
# them (models.base.resolution_range). The one list of noise modes a generator accepts.
RESOLUTIONS = (8, 16, 32, 64, 128, 256, 512, 1024)
NOISE_MODES = ("const", "random", "none")
# The profiler's speed variants, timed against eager fp32 (benchmarks/profiling/speed_variants.py)
SPEED_VARIANTS = ("channels_last", "compile", "bf16", "tf32", "fp16", "cuda_graphs")


def opt(default=dataclasses.MISSING, *, help: str, factory=None, scope="job", **schema):
    """A config field: its one default, one line of help, extra JSON-schema limits, and its
    scope: "job" (a flag of its stage's entry point) or "workflow" (the workflow reads it)."""
    kw = {"default_factory": factory} if factory is not None else {"default": default}
    return field(metadata={"help": help, "schema": schema, "scope": scope}, **kw)


# --------------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class Dataset:
    source: str = opt(help="image folder, .zip, LSUN LMDB folder, or embedded:NAME")
    resolution: int = opt(help="square side in px after preparation", enum=list(RESOLUTIONS))
    max_images: int | None = opt(None, help="keep the first N usable images", minimum=1)


@dataclass(frozen=True)
class Model:
    build: dict = opt(factory=dict, help="build overrides of the trained variant (width, ...)")
    hparams: dict = opt(factory=dict, help="training hyper-parameters for this model only")


@dataclass(frozen=True)
class HParams:
    """The StyleGAN2 recipe's defaults; a model's registered recipe and the config override them."""

    lr: float = opt(
        0.002, help="Adam lr of G and D before the lazy-regularisation ratio", exclusiveMinimum=0
    )
    beta1: float = opt(0.0, help="Adam beta1", minimum=0, exclusiveMaximum=1)
    beta2: float = opt(0.99, help="Adam beta2", minimum=0, exclusiveMaximum=1)
    r1_gamma: float = opt(10.0, help="R1 weight γ; penalty γ/2·||∇D(x)||²", minimum=0)
    d_reg_interval: int = opt(16, help="lazy R1 every N D steps", minimum=1)
    g_reg_interval: int = opt(4, help="lazy path length every N G steps (lr ratio)", minimum=1)
    pl_weight: float = opt(0.0, help="path-length regularisation weight (0 = off)", minimum=0)
    pl_batch_shrink: int = opt(2, help="path-length pass uses batch // N", minimum=1)
    pl_decay: float = opt(
        0.01, help="moving-average rate of the target path length", exclusiveMinimum=0, maximum=1
    )
    mixing: float = opt(0.0, help="style-mixing probability per batch", minimum=0, maximum=1)
    xflip: bool = opt(True, help="random horizontal flips of the reals")
    ema_half_life_steps: float = opt(312.5, help="G_ema half-life in steps", exclusiveMinimum=0)
    ema_rampup: float | None = opt(None, help="half-life ≤ rampup × steps", exclusiveMinimum=0)


@dataclass(frozen=True)
class Train:
    kimg: float = opt(
        10.0, help="train until this many thousand reals are shown", exclusiveMinimum=0
    )
    batch: int = opt(16, help="global batch, split evenly over processes", minimum=1)
    snap_kimg: float | None = opt(
        None, help="snapshot interval (default: only at the end)", exclusiveMinimum=0
    )
    seed: int = opt(0, help="seed of weights, latents and data order", minimum=0)
    gpus: int = opt(1, help="processes per job (>1: torchrun)", minimum=1, scope="workflow")
    threads: int | None = opt(None, help="torch CPU threads per job (default: torch's)", minimum=1)
    workers: int | None = opt(
        None, help="DataLoader workers (default: 0 on CPU, 2 on CUDA)", minimum=0
    )
    log_every: int = opt(10, help="a training-log row every N steps", minimum=1)
    grid: int = opt(8, help="sample grid of GRID×GRID images per snapshot", minimum=1)
    keep: int | None = opt(None, help="keep only the newest N snapshots", minimum=1)
    micro_batch: int | None = opt(
        None,
        help="images per forward; a step averages batch/micro_batch "
        "of them (default: batch / processes)",
        minimum=1,
    )
    precision: str = opt(
        "fp32",
        help="training passes: fp32 | bf16 (autocast) | fp16 (autocast + GradScaler, CUDA only)",
        enum=["fp32", "bf16", "fp16"],
    )
    channels_last: bool = opt(False, help="channels-last memory format for G and D in training")
    compile: str | None = opt(
        None,
        help="torch.compile backend for the G/D forwards of the main "
        "passes, e.g. inductor (default: eager)",
    )
    tf32: bool = opt(False, help="allow TF32 matmuls and convolutions on CUDA (default: fp32)")
    speed_variant: str = opt(
        "fixed",
        help="fixed: the fast path these fields set | auto: the fastest variant the model's "
        "speed-variant grid judged fast and faithful on this device (training.speed_variant)",
        enum=["fixed", "auto"],
    )
    cudnn_benchmark: bool = opt(False, help="let cuDNN time conv algorithms and keep the fastest")
    preset: str | None = opt(
        None,
        help="named hyper-parameter preset between each model's recipe and `hparams` "
        "(training.presets, which names them; default: none, the official recipe)",
    )
    hparams: dict = opt(factory=dict, help="every model's HParams (--hparam)", scope="workflow")


@dataclass(frozen=True)
class Latency:
    resolution: int = opt(help="timed resolution", enum=list(RESOLUTIONS))
    batch_sizes: list[int] = opt(
        help="batch sizes timed at it", minItems=1, items={"type": "integer", "minimum": 1}
    )


@dataclass(frozen=True)
class VariantsAt:  # 64 px batch 1: timed in the default run anyway; 256 px costs ~10× per forward
    resolution: int = opt(64, help="a resolution `latency` times", enum=list(RESOLUTIONS))
    batch: int = opt(1, help="images per forward", minimum=1)


@dataclass(frozen=True)
class Profile:
    resolutions: list[int] = opt(
        factory=lambda: [64, 128, 256, 512, 1024], help="counted at full width", scope="workflow"
    )
    latency: list[Latency] = opt(
        factory=list,
        help="resolutions timed on the device at hand, each with its batch sizes, e.g. "
        "[{resolution: 64, batch_sizes: [1, 4]}] (none: counted only)",
    )
    latency_warmup: int = opt(1, help="untimed forwards before timing", minimum=0)
    latency_repeats: int = opt(
        6, help="timed forwards per batch size at least (6: a 95 % CI of a median)", minimum=1
    )
    min_time: float = opt(0.0, help="keep timing until this many seconds passed", minimum=0)
    latency_ci_target: float = opt(
        0.05,
        help="repeat until the 95 % CI half-width of the median is below this fraction of it",
        exclusiveMinimum=0,
        maximum=1,
    )
    latency_max_time: float = opt(
        8.0,
        help="seconds per batch size after which repeats stop (the row is noisy if its CI is "
        "still wider than the target)",
        minimum=0,
    )
    claim_ci_target: float = opt(
        0.03,
        help="the rows Table 1's speed claims are judged on (256 px, batch 1) repeat until their "
        "CI half-width is below this fraction (at most latency_ci_target)",
        exclusiveMinimum=0,
        maximum=1,
    )
    claim_max_time: float = opt(
        20.0,
        help="seconds after which a claim row's repeats stop (at least latency_max_time); "
        "whether it is noisy is judged against latency_ci_target like every row",
        minimum=0,
    )
    fvcore_max_resolution: int = opt(
        256, help="fvcore traces a real CPU forward up to here (0: never)", minimum=0
    )
    variants: list[str] = opt(
        factory=lambda: [v for v in SPEED_VARIANTS if v != "compile"],
        help="speed variants timed against eager fp32 at variants_at (none: no grid); compile is "
        "opt-in (its first call takes ~40 s per model on 2 CPU cores)",
        uniqueItems=True,
        items={"type": "string", "enum": list(SPEED_VARIANTS)},
    )
    variants_at: VariantsAt = opt(
        factory=VariantsAt, help="the one resolution and batch the variant grid runs at"
    )

    def batch_sizes_at(self, resolution: int) -> list[int]:
        """The batch sizes timed at `resolution` (every `latency` entry for it, in order; empty:
        only counted), so a profile job needs its resolution and this section, nothing else."""
        found = [b for e in self.latency if e.resolution == int(resolution) for b in e.batch_sizes]
        return list(dict.fromkeys(found))


@dataclass(frozen=True)
class Quality:
    extractor: str = opt("inception", help="feature network (see benchmarks/quality)")
    metrics: list[str] | None = opt(
        None, help="registered metric names (default: all but the opt-in fd_dinov2, cmmd)"
    )
    num_gen: int = opt(50_000, help="generated images per seed", minimum=2)
    num_real: int | None = opt(None, help="real images (default: the whole dataset)", minimum=2)
    seeds: list[int] = opt(factory=lambda: [0], help="one evaluation per seed", minItems=1)
    truncation: float = opt(1.0, help="ψ of the truncation trick", minimum=0, maximum=1)
    noise_mode: str = opt("const", help="generator noise at evaluation", enum=list(NOISE_MODES))
    modes: list[str] = opt(
        factory=lambda: ["clean", "legacy_tensorflow"], help="FID/KID resize protocols", minItems=1
    )
    batch: int = opt(16, help="images per generator/extractor batch", minimum=1)
    k: int = opt(3, help="k of precision/recall (NVIDIA: 3)", minimum=1)
    k_dc: int | None = opt(None, help="k of density/coverage (default: k)", minimum=1)
    kid_subsets: int = opt(100, help="KID subsets", minimum=1)
    kid_subset_size: int = opt(1000, help="KID subset size", minimum=2)
    pr_block: int = opt(10_000, help="row/column block of the k-NN", minimum=1)
    weights_dir: str = opt("resources/weights", help="metric network files")
    threads: int | None = opt(
        None, help="CPU threads (default: torch's; in the workflow, all its cores)", minimum=1
    )
    sample_size: bool = opt(
        True, help="FID/KID against N (and FID-infinity) on the first seed's features"
    )
    # the metric-vs-kimg curve: read by the workflow's curve rule (planning.curve_quality)
    curve_metric: str = opt("fid", help="metric at every training snapshot", scope="workflow")
    curve_extractor: str | None = opt(
        None, help="feature network of the curve (default: extractor)", scope="workflow"
    )
    curve_num_gen: int | None = opt(
        None, help="images per snapshot (default: num_gen)", minimum=2, scope="workflow"
    )


@dataclass(frozen=True)
class RunConfig:
    run: str = opt(help="name of results/<run>/ and reports/<run>/", pattern=r"^[A-Za-z0-9_.-]+$")
    datasets: dict[str, Dataset] = opt(help="name → source ({}: profile-only, no training)")
    models: dict[str, Model] = opt(help="registered generator name → its variant", minProperties=1)
    description: str = opt("", help="one paragraph, shown in the report")
    device: str = opt(
        DEFAULT_DEVICE, help="auto (CUDA when present) | cpu | cuda", enum=list(DEVICES)
    )
    rehearsal: bool = opt(
        False,
        help="a miniature run of a paper config with stand-in data and "
        "weights: FID claims are judged but labelled as a rehearsal",
    )
    train: Train = opt(factory=Train, help="the training runs")
    profile: Profile = opt(factory=Profile, help="cost of every model at full width")
    quality: Quality = opt(factory=Quality, help="quality metrics")


# --------------------------------------------------------------------------------- schema


def _schema_of(tp) -> dict:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in args if a is not type(None)]
        schema = _schema_of(inner[0])
        schema["type"] = [schema["type"], "null"] if "type" in schema else schema["type"]
        return schema
    if dataclasses.is_dataclass(tp):
        return schema_of(tp)
    if origin is list:
        return {"type": "array", "items": _schema_of(args[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema_of(args[1])}
    simple = {int: "integer", float: "number", str: "string", bool: "boolean", dict: "object"}
    return {"type": simple[tp]}


def schema_of(cls) -> dict:
    hints = typing.get_type_hints(cls)
    props, required = {}, []
    for f in dataclasses.fields(cls):
        props[f.name] = {**_schema_of(hints[f.name]), **f.metadata["schema"]}
        props[f.name]["description"] = f.metadata["help"]
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    return dict(type="object", additionalProperties=False, properties=props, required=required)


def json_schema() -> dict:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "description": "pixbench run configuration (config/*.yaml), generated by common.settings",
        **schema_of(RunConfig),
    }


# --------------------------------------------------------------------------------- loading


def _build(tp, value):
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if value is None:
        return None
    if origin in (types.UnionType, typing.Union):
        return _build(next(a for a in args if a is not type(None)), value)
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return tp(**{k: _build(hints[k], v) for k, v in value.items()})
    if origin is list:
        return [_build(args[0], v) for v in value]
    if origin is dict:
        return {k: _build(args[1], v) for k, v in value.items()}
    if tp is float:
        return float(value)
    return value


def _non_finite(data, path=()):
    """The path of the first NaN or ±inf in `data` (YAML's .nan/.inf), else None: JSON schema
    ranges compare False with NaN, so they would let it through."""
    if isinstance(data, float) and not math.isfinite(data):
        return path
    items = (
        data.items()
        if isinstance(data, dict)
        else enumerate(data)
        if isinstance(data, list)
        else ()
    )
    for k, v in items:
        found = _non_finite(v, (*path, k))
        if found is not None:
            return found
    return None


def validate(data: dict, cls=RunConfig, where: str = "config", key=str):
    """Check `data` against the schema of `cls` and build it; the first problem is one line,
    naming its place (`key` spells a top-level field: a config key, or a CLI's flag)."""
    import jsonschema

    def place(path) -> str:
        return ".".join([key(path[0]), *map(str, path[1:])]) if path else "(top level)"

    if not isinstance(data, dict):
        raise UsageError(f"{where}: expected a mapping of sections, got {type(data).__name__}")
    validator = jsonschema.Draft202012Validator(schema_of(cls))
    data = yaml12_numbers(data, validator)  # `kimg: 1e12`, a string to YAML 1.1: a number
    bad = _non_finite(data)
    if bad is not None:
        raise UsageError(
            f"{where}: {place(bad)}: must be a finite number, got {_value_at(data, bad)}"
        )
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        raise UsageError(f"{where}: {place(list(error.absolute_path))}: {error.message}")
    return _build(cls, data)


def _value_at(data, path):
    for k in path:
        data = data[k]
    return data


def load(source: str | Path | dict) -> RunConfig:
    """A config file (YAML, read strictly: common.strict_yaml refuses duplicate keys and alias
    bombs, and names the line of a syntax error) or an already-parsed mapping → RunConfig.

    The schema only: whether its models, metrics and extractors are registered is checked one
    layer up (workflow.config.check_registered): the registries live in the rooms above."""
    where = "config"
    if not isinstance(source, dict):
        from common import strict_yaml

        where = str(source)
        source = strict_yaml.load_file(source)
    return validate(source, RunConfig, where)


def defaults(cls) -> dict:
    """Field name → default of one section (what a CLI uses for an option it shares)."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def help_of(cls, name: str) -> str:
    return next(f.metadata["help"] for f in dataclasses.fields(cls) if f.name == name)


def as_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)
