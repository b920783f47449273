"""Memory traffic: bytes one batch-1 forward moves per image, counted op by op (bytecount.py),
and the operational intensity it gives (true MACs per byte), the x-axis of the roofline."""

from .. import bytecount
from ..registry import Column, register_measure

MIB = 2**20
NOTE = (
    "Bytes per image = what every aten op of one batch-1 eval forward reads and writes, each "
    "operand from memory (no cache): an upper bound on DRAM traffic, so intensity = true MACs ÷ "
    "bytes is a lower bound (docs/roofline.md)."
)


@register_measure(
    "traffic",
    label="Memory traffic",
    unit="MiB",
    lower_is_better=True,
    protocol=bytecount.PROTOCOL,
    note=NOTE,
    keys=["traffic"],
    # exact counts of a model of traffic, not a measurement: 3 significant digits are what a
    # reader compares
    columns=[
        Column(
            "traffic_MiB_per_image",
            "Traffic per image",
            "MiB",
            key="traffic.bytes_per_image",
            scale=1 / MIB,
            plot=True,
        ),
        Column(
            "intensity_MACs_per_byte",
            "Intensity",
            "MAC/B",
            key="traffic.intensity_macs_per_byte",
            lower_is_better=None,
        ),
    ],
)
def traffic(ctx):
    dev = getattr(ctx.device, "type", str(ctx.device))
    by_op = bytecount.forward_bytes_by_op(ctx.model, ctx.resolution, 1, dev, **ctx.build)
    nbytes = by_op.pop("total")
    macs = ctx.mac_count("true").macs
    return {
        "traffic": {
            "bytes_per_image": nbytes,
            "intensity_macs_per_byte": macs / nbytes,
            "counter": bytecount.PROTOCOL,
            # where the bytes go: elementwise ops that a fused kernel would not move show here
            "bytes_by_op": by_op,
        }
    }
