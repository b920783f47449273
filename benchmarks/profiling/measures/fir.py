"""FIR MACs: the fixed [1, 3, 3, 1] filters (`models.layers.FIRFilter`: StyleGAN2's blur after
its upsampling convs, every ToRGB's skip upsampling), kept out of the headline MACs and reported
here, with the total an off-the-shelf counter would print (docs/macs.md, "FIR filters kept
apart")."""

from ..registry import Column, register_measure


@register_measure(
    "fir",
    label="MACs of FIR filters",
    unit="G",
    lower_is_better=True,
    protocol="FlopCounterMode work attributed to FIRFilter modules (meta device, batch 1)",
    keys=["macs_fir", "macs_fir_by_module", "macs_with_fir"],
    # 3 significant digits: a small share of the total, read as a size, not compared to a paper
    columns=[Column("GMACs_fir", "MACs of FIR filters", "G", key="macs_fir", scale=1e-9)],
)
def fir(ctx):
    true = ctx.mac_count("true")  # the MACs measure's pass: one count, split by module
    return {
        "macs_fir": true.fir,
        "macs_fir_by_module": true.fir_by_module,
        "macs_with_fir": true.total,
    }
