"""Run-time bf16 detection, the precision setting, and the spatial decoder's CPU path
(cache-blocked per-pixel MLP) against the plain autograd version."""

import numpy as np
import pytest
import torch

from symbreak import RotationalVAE
from symbreak.vae import cpu
from symbreak.vae.model import SpatialDecoder
from symbreak.vae.pixel_mlp import blocks
from symbreak.vae.settings import fit_settings, resolve_precision
from vae_synthetic import circular_agreement, dipole_patterns

AVX2_ONLY = "model name\t: Some CPU\nflags\t\t: fpu sse2 avx avx2 fma\n"
AVX512_BF16 = "model name\t: AMD EPYC\nflags\t\t: avx2 avx512f avx512_bf16 avx512_vnni\n"
AMX = "model name\t: Xeon\nflags\t\t: avx2 avx512f amx_tile amx_bf16\n"


@pytest.mark.parametrize("text, native", [(AVX2_ONLY, False), (AVX512_BF16, True),
                                          (AMX, True), ("", False)])
def test_native_bf16_from_cpuinfo(text, native):
    assert cpu.has_native_bf16(cpu.cpu_flags(text)) is native


@pytest.mark.parametrize("text, decoder, expected", [
    (AVX2_ONLY, "spatial", "float32"), (AVX2_ONLY, "rotate", "float32"),
    (AVX512_BF16, "spatial", "bf16"), (AVX512_BF16, "rotate", "float32"),
    (AMX, "spatial", "bf16")])
def test_auto_precision_follows_the_cpu(monkeypatch, text, decoder, expected):
    monkeypatch.setattr(cpu, "read_cpuinfo", lambda: text)
    cpu.cpu_capability.cache_clear()
    try:
        assert resolve_precision("auto", "cpu", decoder) == expected
        s = fit_settings(dict(decoder=decoder, device="cpu"))
        assert s.precision == expected
        assert s.cpu["native_bf16"] is cpu.has_native_bf16(cpu.cpu_flags(text))
        assert s.cpu["model"] == text.split(":")[1].split("\n")[0].strip()
    finally:
        cpu.cpu_capability.cache_clear()
    assert resolve_precision("float32", "cpu", "spatial", native_bf16=True) == "float32"
    assert resolve_precision("bf16", "cpu", "rotate", native_bf16=False) == "bf16"


def test_missing_cpuinfo_means_float32(monkeypatch, tmp_path):
    monkeypatch.setattr(cpu, "CPUINFO", tmp_path / "absent")
    assert cpu.read_cpuinfo() == ""
    assert resolve_precision("auto", "cpu", "spatial", native_bf16=False) == "float32"


@pytest.mark.parametrize("shape, batch", [((64, 64), 3), ((24, 24), 5), ((20, 30), 4),
                                          ((7, 5), 9)])
def test_blocked_spatial_decoder_matches_autograd(shape, batch):
    torch.manual_seed(0)
    dec = SpatialDecoder(shape, 2)
    z, angle, shift = (torch.randn(batch, 2, requires_grad=True),
                       torch.randn(batch, requires_grad=True),
                       torch.randn(batch, 2, requires_grad=True))
    assert dec._blocked(z)
    ref, out = dec._forward_autograd(z, angle, shift), dec._forward_blocked(z, angle, shift)
    assert torch.allclose(out, ref, rtol=0, atol=1e-6)
    g = torch.randn_like(ref)
    wrt = [z, angle, shift, *dec.parameters()]
    for a, b in zip(torch.autograd.grad(ref, wrt, g), torch.autograd.grad(out, wrt, g)):
        assert (a - b).abs().max() <= 1e-5 * a.abs().max()
    with torch.no_grad():
        assert torch.allclose(dec._forward_blocked(z, angle, shift), ref, rtol=0, atol=1e-6)


def test_blocks_cover_every_pixel_once():
    for batch, shape in ((3, (64, 64)), (9, (7, 5)), (5, (100, 30))):
        seen = np.zeros((batch, *shape), int)
        for b0, b1, r0, r1 in blocks(batch, shape):
            seen[b0:b1, r0:r1] += 1
        assert (seen == 1).all()


def test_second_backward_is_refused():
    dec = SpatialDecoder((16, 16), 1)
    y = dec(torch.randn(2, 1), torch.randn(2, requires_grad=True)).sum()
    y.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_bf16_decoder_output_close_to_float32():
    torch.manual_seed(1)
    dec = SpatialDecoder((24, 24), 2)
    z, angle = torch.randn(4, 2), torch.randn(4)
    ref = dec(z, angle)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = dec(z, angle).float()
    assert (low - ref).abs().max() <= 0.02 * ref.abs().max()


@pytest.mark.slow
def test_forced_bf16_fit_gives_the_float32_latents():
    rng = np.random.default_rng(3)
    angle, content = rng.uniform(-np.pi, np.pi, 300), rng.uniform(0, 1, 300)
    X = dipole_patterns(angle, content, size=16)
    out = {}
    for precision in ("float32", "bf16"):
        model = RotationalVAE(decoder="spatial", latent_dim=1, epochs=15, n_threads=1,
                              precision=precision).fit(X)
        ds = model.transform(X)
        out[precision] = (ds.latent_angle.values, np.ravel(ds.latent_z.values),
                          model.diagnostics_.verdict)
        assert model.settings_.precision == precision
        assert model.settings_.cpu == cpu.cpu_capability()   # provenance
        assert circular_agreement(ds.latent_angle.values, angle) > 0.99
    (a32, z32, v32), (a16, z16, v16) = out["float32"], out["bf16"]
    assert v16 == v32
    assert circular_agreement(a16, a32) > 0.999        # same angles up to one offset
    assert abs(np.corrcoef(z16, z32)[0, 1]) > 0.99     # same content ordering


def test_blocked_bf16_path_as_accurate_as_autocast():
    torch.manual_seed(0)
    dec = SpatialDecoder((32, 32), 2)
    z, angle = torch.randn(5, 2, requires_grad=True), torch.randn(5, requires_grad=True)
    wrt = [z, angle, *dec.parameters()]
    ref = dec._forward_autograd(z, angle, None)
    g = torch.randn_like(ref)
    exact = torch.autograd.grad(ref, wrt, g)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert dec._blocked(z)
        plain, blocked = dec._forward_autograd(z, angle, None), dec._forward_blocked(z, angle, None)
    assert blocked.dtype == plain.dtype == torch.bfloat16
    for out in (plain, blocked):
        assert (out.float() - ref).abs().max() <= 0.02 * ref.abs().max()  # bf16: 8-bit mantissa
        for a, b in zip(exact, torch.autograd.grad(out, wrt, g.to(out.dtype))):
            assert b.dtype == torch.float32
            assert (a - b).abs().max() <= 0.05 * a.abs().max()


def test_fit_hands_back_the_pooled_activations():
    from symbreak.vae import pixel_mlp

    X = dipole_patterns(np.linspace(-3, 3, 40), np.linspace(0, 1, 40), size=12)
    RotationalVAE(decoder="spatial", epochs=1, n_threads=1, restarts=0).fit(X)
    assert pixel_mlp.BUFFERS.free == {}
