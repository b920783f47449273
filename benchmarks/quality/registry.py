"""The one table of quality metrics and feature extractors; it answers without computing.

A metric is ONE function `fn(real, gen, ctx) -> float | {output: float}` registered with
`@register_metric(...)`, which declares the features it needs (`POOL`: one set per resize mode,
`MANIFOLD`: one set of raw-pixel features, `IMAGES`: the uint8 images themselves), the outputs
it writes, whether lower is better and its protocol. `real`/`gen` are `features.FeatureSet`s
(`.array`, `.stats()`, `.memo()`), or `images.ImageSet`s for IMAGES (`.batches()`, `.reduce()`,
`.memo()`); `ctx` is a `Context` (the checked `settings.Quality` options, device, seed, mode).

An extractor says which net computes each kind of feature and how results are named: on the
published protocol's own network (the extractor's `reference` kinds) an output keeps its name
(`fid`), on any other features it takes its generic name plus the extractor's suffix
(`fd_proxy`, `precision_inception`), so a proxy number never looks like FID and precision on
Inception features never looks like NVIDIA's VGG16 precision. A kind tied to one network
(`Features.net`: DINOv2, CLIP) is that metric's own protocol and keeps its name everywhere. A
result key is that stem, plus `_<mode>` for per-mode metrics (`fid_clean`). IMAGES metrics are
named like the rest of the run (suffixed unless every kind is a reference), so no key of a proxy
run can be mistaken for one of a reference run.

    metric_names(), extractor_names(), mode_names()     registered names, in registration order
    get(name) -> Metric, get_extractor(name) -> Extractor, select(names) -> [Metric]
    result_keys(metric, extractor=None, modes=None)     summary keys a run writes
    key_info(key[, default]) -> KeyInfo                 what a result key means
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from common import settings

from .errors import QualityError
from .estimate import Estimate

# ----------------------------------------------------------------------------- features, modes


@dataclass(frozen=True)
class Features:
    """A kind of feature a metric needs; each extractor maps it to one of its nets, except the
    images themselves (`by_net=False`), which no net computes and no cache stores, and a kind
    tied to one network whatever the extractor (`net`: DINOv2 for FD_DINOv2, CLIP for CMMD),
    whose metric is defined by that network, so its results keep their published names."""

    name: str
    per_mode: bool  # one feature set (and one result) per resize mode
    description: str
    by_net: bool = True
    net: str | None = None  # a fixed net (nets.NETS name) that every extractor uses


POOL = Features("pool", True, "the net's pool features, one set per resize mode")
MANIFOLD = Features(
    "manifold", False, "the net's features of the raw uint8 pixels, resized inside the net"
)
IMAGES = Features(
    "images", False, "the real and generated uint8 images themselves (images.ImageSet)", False
)


@dataclass(frozen=True)
class Mode:
    """A resize protocol of per-mode features (clean-fid's `mode`)."""

    name: str
    resize: str  # "clean": clean-fid's PIL bicubic before the net; "none": the net resizes
    label: str
    note: str


MODES = {
    m.name: m
    for m in (
        Mode(
            "clean",
            "clean",
            "clean-fid clean",
            "clean-fid clean: PIL bicubic to 299x299 on float32 channels, no re-quantization",
        ),
        Mode(
            "legacy_tensorflow",
            "none",
            "NVIDIA fid50k_full",
            "resize inside the TorchScript net (TF-style bilinear), NVIDIA fid50k_full",
        ),
    )
}


@dataclass(frozen=True)
class FeatureSpec:
    """One feature set: which net, and whether clean-fid's clean resize runs before it."""

    net: str
    resize: str

    @property
    def tag(self) -> str:
        return f"{self.net}-{self.resize}"


# ----------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Output:
    """One number a metric writes: its name and label on the reference networks, and the
    generic name/label of the same quantity on other features (FID is FD only on Inception)."""

    name: str
    label: str
    generic: str | None = None
    generic_label: str | None = None


@dataclass(frozen=True)
class Context:
    """What a metric function may read besides the two feature sets."""

    options: settings.Quality
    device: Any
    seed: int | None = None
    mode: str | None = None


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable = field(repr=False)
    features: Features
    outputs: tuple[Output, ...]
    lower_is_better: bool
    protocol: str
    card: Callable[[Context], dict] | None = field(default=None, repr=False)
    min_images: Callable[[settings.Quality], int] | None = field(default=None, repr=False)
    # images per set its published protocol uses (e.g. 50k for fid50k_full); fewer still run,
    # with a warning in the log and the metric card, since the estimate is then biased
    protocol_images: int | None = None
    # whether `metrics: null` runs it; False (opt-in): only when named, for a metric whose net
    # needs a weights file that cannot ship offline and costs far more than Inception
    default: bool = True

    def __call__(self, real, gen, ctx: Context) -> dict[str, float]:
        values = self.fn(real, gen, ctx)
        if not isinstance(values, dict):
            values = {self.outputs[0].name: values}
        names = [o.name for o in self.outputs]
        if sorted(values) != sorted(names):
            raise ValueError(f"metric {self.name!r} returned {sorted(values)}, declared {names}")
        return {n: v if isinstance(v := values[n], Estimate) else float(v) for n in names}


@dataclass(frozen=True)
class Extractor:
    """Which net computes each kind of feature, and which of those kinds are the published
    protocol's own (`reference`): results on a reference kind keep their published names
    (`fid`), any other take the generic name plus `suffix` (`fd_proxy`, `precision_inception`),
    so precision/recall on Inception features can never be read as NVIDIA's VGG16 numbers."""

    name: str
    nets: dict[str, str]  # Features.name -> net name (benchmarks.quality.nets.NETS)
    label: str
    reference: frozenset[str] = frozenset()  # Features names on the published protocol's net
    suffix: str = ""
    resize: dict[str, str] = field(default_factory=dict)  # Features.name -> fixed resize

    @property
    def comparable(self) -> bool:
        """Every feature kind it computes is the published protocol's own."""
        return set(self.nets) <= self.reference

    def is_reference(self, features: Features | None) -> bool:
        """Whether results on `features` keep their published names (None: any kind)."""
        if features is None or not features.by_net:  # images: named as the run's other keys
            return self.comparable
        return features.net is not None or features.name in self.reference

    def stem(self, output: Output, features: Features | None = None) -> str:
        if self.is_reference(features):
            return output.name
        return (output.generic or output.name) + self.suffix

    def spec(self, features: Features, mode: str | None = None) -> FeatureSpec:
        """The feature set `features` are with this extractor (in `mode`, if per mode)."""
        if features.net is not None:
            return FeatureSpec(features.net, "none")
        if features.name not in self.nets:
            raise QualityError(f"extractor {self.name!r} has no {features.name!r} features")
        resize = MODES[mode].resize if mode else self.resize.get(features.name, "none")
        return FeatureSpec(self.nets[features.name], resize)


@dataclass(frozen=True)
class KeyInfo:
    """What one result key means (`key_info`)."""

    key: str
    metric: str  # registered metric name
    output: str  # the metric's output ("precision" of "pr")
    extractor: str
    mode: str | None  # None: a per-mode metric's entry in result["metrics"], or no modes
    lower_is_better: bool
    protocol: str
    label: str
    comparable: bool


# ----------------------------------------------------------------------------- registration

_METRICS: dict[str, Metric] = {}
_EXTRACTORS: dict[str, Extractor] = {}
_RAISE = object()


def register_metric(
    name: str,
    *,
    features: Features,
    lower_is_better: bool,
    protocol: str,
    outputs: Sequence[Output | str] | None = None,
    card: Callable[[Context], dict] | None = None,
    min_images: Callable[[settings.Quality], int] | None = None,
    protocol_images: int | None = None,
    default: bool = True,
):
    """Decorator: register `fn(real, gen, ctx)` as metric `name` (outputs default to [name];
    a plain string output is its own label; `default=False`: run only when named). Result keys
    must stay unique over all metrics."""

    def deco(fn):
        if name in _METRICS:
            raise ValueError(f"metric {name!r} is registered twice")
        outs = tuple(o if isinstance(o, Output) else Output(o, o) for o in outputs or [name])
        _METRICS[name] = Metric(
            name,
            fn,
            features,
            outs,
            lower_is_better,
            protocol,
            card,
            min_images,
            protocol_images,
            default,
        )
        try:
            _key_table()
        except ValueError:
            del _METRICS[name]
            raise
        return fn

    return deco


def register_extractor(extractor: Extractor) -> Extractor:
    if extractor.name in _EXTRACTORS:
        raise ValueError(f"extractor {extractor.name!r} is registered twice")
    _EXTRACTORS[extractor.name] = extractor
    try:
        _key_table()
    except ValueError:
        del _EXTRACTORS[extractor.name]
        raise
    return extractor


# ----------------------------------------------------------------------------- lookups


def metric_names() -> list[str]:
    return list(_METRICS)


def extractor_names() -> list[str]:
    return list(_EXTRACTORS)


def mode_names() -> list[str]:
    return list(MODES)


def get(name: str) -> Metric:
    if name not in _METRICS:
        raise QualityError(f"unknown metric {name!r}; registered: {', '.join(_METRICS)}")
    return _METRICS[name]


def get_extractor(name: str) -> Extractor:
    if name not in _EXTRACTORS:
        raise QualityError(f"unknown extractor {name!r}; registered: {', '.join(_EXTRACTORS)}")
    return _EXTRACTORS[name]


def select(names: Sequence[str] | None) -> list[Metric]:
    """The metrics to compute: `names` in order (None: every registered metric except the
    opt-in ones, `default=False`, which run only when named)."""
    if names is None:
        return [m for m in _METRICS.values() if m.default]
    if not names:
        raise QualityError(f"no metric selected; registered: {', '.join(_METRICS)}")
    return [get(n) for n in dict.fromkeys(names)]


def check_modes(modes: Sequence[str]) -> list[str]:
    bad = [m for m in modes if m not in MODES]
    if not modes or bad:
        raise QualityError(f"unknown mode {(bad or [''])[0]!r}; registered: {', '.join(MODES)}")
    return list(dict.fromkeys(modes))


def result_key(stem: str, mode: str | None) -> str:
    return stem if mode is None else f"{stem}_{mode}"


def result_keys(
    metric: str | Metric, extractor: str | None = None, modes: Sequence[str] | None = None
) -> list[str]:
    """The summary keys `metric` writes with `extractor` over `modes` (defaults: settings)."""
    metric = metric if isinstance(metric, Metric) else get(metric)
    default = settings.defaults(settings.Quality)
    ex = get_extractor(extractor or default["extractor"])
    modes = check_modes(default["modes"] if modes is None else modes)
    per = modes if metric.features.per_mode else [None]
    return [result_key(ex.stem(o, metric.features), mode) for o in metric.outputs for mode in per]


def key_info(key: str, default=_RAISE) -> KeyInfo:
    """Metric, direction, protocol and label of a summary key (`fid_clean`) or of an entry of
    result["metrics"] (`fid`); unknown keys raise KeyError unless a default is given."""
    table = _key_table()
    if key in table:
        return table[key]
    if default is _RAISE:
        raise KeyError(f"{key!r} is not a result key of any registered metric")
    return default


def _key_table() -> dict[str, KeyInfo]:
    table: dict[str, KeyInfo] = {}
    for ex in _EXTRACTORS.values():
        for m in _METRICS.values():
            for out in m.outputs:
                stem = ex.stem(out, m.features)
                for mode in [None, *(MODES if m.features.per_mode else ())]:
                    info = _info(result_key(stem, mode), m, out, ex, mode)
                    old = table.setdefault(info.key, info)
                    # a published name means one thing whichever extractor wrote it
                    if dataclasses.replace(old, extractor=info.extractor) != info:
                        raise ValueError(
                            f"result key {info.key!r} of metric {m.name!r} is "
                            f"already written by {table[info.key].metric!r}"
                        )
    return table


def _info(key: str, m: Metric, out: Output, ex: Extractor, mode: str | None) -> KeyInfo:
    ref = ex.is_reference(m.features)
    label = out.label if ref else f"{out.generic_label or out.label} ({ex.name} features)"
    protocol = m.protocol + (f"; {MODES[mode].label}" if mode else "")
    if not ref:
        protocol += f"; {ex.name} features, not comparable with published numbers"
    return KeyInfo(
        key,
        m.name,
        out.name,
        ex.name,
        mode,
        m.lower_is_better,
        protocol,
        label + (f" [{mode}]" if mode else ""),
        ref,
    )
