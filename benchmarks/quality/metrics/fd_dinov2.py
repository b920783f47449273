"""FD_DINOv2 (Stein et al. 2023): Fréchet distance between Gaussians fitted to DINOv2 ViT-L/14
CLS embeddings, the number dgm-eval, torch-fidelity and EDM2 report. The net is part of the
metric's definition, so it is DINOv2 with every extractor and the result is always `fd_dinov2`
(benchmarks/quality/vit_nets.py: weights, preprocessing)."""

from ..distances import frechet_distance
from ..registry import Features, Output, register_metric

DINOV2 = Features(
    "dinov2",
    False,
    "DINOv2 ViT-L/14 CLS embeddings (1024-D) of images PIL-bicubic resized to 224x224 (dgm-eval)",
    net="dinov2",
)


@register_metric(
    "fd_dinov2",
    features=DINOV2,
    outputs=[Output("fd_dinov2", "FD_DINOv2")],
    protocol_images=50000,
    lower_is_better=True,
    default=False,  # opt-in: its weights file cannot ship offline (see vit_nets.py)
    protocol="Fréchet distance of DINOv2 ViT-L/14 CLS-embedding mean/covariance (dgm-eval, EDM2)",
    card=lambda ctx: {
        "net": "DINOv2 ViT-L/14 (Meta dinov2_vitl14_pretrain.pth), CLS token after the final norm",
        "preprocessing": "PIL bicubic to 224x224 on uint8, /255, ImageNet mean/std (dgm-eval; "
        "EDM2 resize_mode='pil')",
        "fd_method": "eigenvalues of F S2 F^T with S1 = F^T F (pivoted Cholesky), float64",
    },
)
def fd_dinov2(real, gen, ctx):
    return frechet_distance(*gen.stats(), *real.stats())
