"""benchmarks.quality.features: the features of real images (a PNG folder) and of generated
ones (seeded latents, NVIDIA's uint8 quantization) equal clean-fid's own folder and generator
paths bit for bit (the same resize and network in the same process), FD to rel 1e-6; and the
quantization rule is NVIDIA's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cleanfid import fid as cleanfid_fid
from PIL import Image

from benchmarks.quality.distances import feature_stats, frechet_distance
from benchmarks.quality.features import extract, quantize
from benchmarks.quality.nets import ProxyFeatures, ProxyNet
from benchmarks.quality.registry import FeatureSpec
from benchmarks.quality.samples import generated_batches
from tests.helpers import TinyGenerator, image_batches, structured_images

CPU = torch.device("cpu")
pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


# ----------------------------------------------------------------------------- clean-fid parity


@pytest.fixture(scope="module")
def png_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("pngs")
    sets = {"a": structured_images(24, 0, seed=1), "b": structured_images(24, 90, seed=2)}
    for name, images in sets.items():
        (root / name).mkdir()
        for i, img in enumerate(images):
            Image.fromarray(img).save(root / name / f"{i:03d}.png")
    return root, sets


@pytest.mark.numerics
@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")
def test_real_features_match_cleanfid_folder_path(png_folders):
    """Clean features bit for bit (the same resize and network in the same process, so the same
    kernels in the same order); legacy features to 1e-5 (measured ≤ 7.7e-7); FD to rel 1e-6
    (measured ≤ 1.3e-7 relative) under every dispatch."""
    root, sets = png_folders
    proxy = ProxyNet().eval()
    nets = {"proxy": ProxyFeatures(CPU)}
    clean, legacy = FeatureSpec("proxy", "clean"), FeatureSpec("proxy", "none")
    ours = extract(image_batches(sets["a"]), [clean, legacy], nets, CPU, progress=False)
    with torch.no_grad():
        ref = {
            mode: cleanfid_fid.get_folder_features(
                str(root / "a"),
                proxy,
                num_workers=0,
                batch_size=8,
                device=CPU,
                mode=mode,
                verbose=False,
            )
            for mode in ("clean", "legacy_tensorflow")
        }
    np.testing.assert_array_equal(ours[clean], ref["clean"])  # identical resize, bit for bit
    # clean-fid's folder loader turns uint8 into float via /255*255 (1-ulp noise); we pass exact values
    np.testing.assert_allclose(ours[legacy], ref["legacy_tensorflow"], atol=1e-5)

    with torch.no_grad():
        cf = cleanfid_fid.compute_fid(
            str(root / "a"), str(root / "b"), mode="clean", custom_feat_extractor=proxy,
            device=CPU, num_workers=0, batch_size=8, verbose=False,
        )  # fmt: skip
    other = extract(image_batches(sets["b"]), [clean], nets, CPU, progress=False)[clean]
    fd = frechet_distance(*feature_stats(ours[clean]), *feature_stats(other))
    assert fd == pytest.approx(cf, rel=1e-6)


@pytest.mark.numerics
def test_generated_features_match_cleanfid_model_path():
    """Our sampler (seeded z, NVIDIA uint8 quantization) + clean resize vs clean-fid's gen= path
    fed the same latents through a quantizing wrapper, as docs/metrics.md#generated-images describes.
    Bit for bit: the same kernels on the same values in the same process."""
    G = TinyGenerator().eval()
    num, batch = 24, 8  # clean-fid's generator path needs full batches
    proxy = ProxyNet().eval()
    spec = FeatureSpec("proxy", "clean")
    ours = extract(
        generated_batches(G, 7, num, batch, 1.0, "const", CPU),
        [spec], {"proxy": ProxyFeatures(CPU)}, CPU, progress=False,
    )[spec]  # fmt: skip
    z_all = torch.randn(num, G.z_dim, generator=torch.Generator().manual_seed(7))
    stream = iter(z_all.split(batch))

    def wrapped(z):  # clean-fid draws its own z; substitute ours, quantize like NVIDIA
        return quantize(G(next(stream), truncation_psi=1.0, noise_mode="const")).float()

    with torch.no_grad():
        ref = cleanfid_fid.get_model_features(
            wrapped, proxy, mode="clean", z_dim=G.z_dim, num_gen=num, batch_size=batch,
            device=CPU, verbose=False,
        )  # fmt: skip
    np.testing.assert_array_equal(ours, ref[:num])


def test_quantize_is_nvidia_rule():
    x = torch.tensor([-1.5, -1.0, -0.004, 0.0, 0.5, 0.99, 1.0, 2.0])
    expected = torch.tensor([0, 0, 127, 128, 191, 254, 255, 255], dtype=torch.uint8)
    assert torch.equal(quantize(x), expected)


def test_feature_nets_see_at_most_net_batch_images_whatever_the_input_batches():
    """Images reach a feature net in forwards of at most NET_BATCH (its fast size on CPU), in
    order, whatever batches the samples come in; the features are the per-image ones."""
    from benchmarks.quality.features import NET_BATCH

    seen = []

    def net(x, resize):  # a per-image feature: the mean of each channel
        seen.append(len(x))
        return x.float().mean((2, 3))

    u8 = torch.randint(0, 256, (3 * NET_BATCH + 1, 3, 8, 8), dtype=torch.uint8)
    spec = FeatureSpec("fake", "none")
    feats = extract(u8.split(2 * NET_BATCH + 1), [spec], {"fake": net}, CPU, progress=False)
    assert max(seen) == NET_BATCH and sum(seen) == len(u8)
    np.testing.assert_array_equal(feats[spec], u8.float().mean((2, 3)).numpy())
