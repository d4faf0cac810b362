"""BoundedBackend over the fast runtime on a tiny random Llama (CPU, float32).

Exactness after eviction is checked against the gather reference of docs/design/memory.md §10: the retained
pre-RoPE K/V, rotated by transformers' own RoPE at contiguous positions 0..m-1, fed to the HF model
through a DynamicCache. A fresh re-prefill is NOT the reference (retained KV carries evicted context).
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from vstream_ros.engine.memory import BoundedBackend, MemoryConfig, check_ids, kv_bytes
from vstream_ros.engine.memory.simulate import synthetic_stream
from vstream_ros.engine.live_model import LiveLlamaForCausalLM, embed_stream
from vstream_ros.engine.runtime.runtime_backend import RuntimeBackend
from vstream_ros.testing.tiny import VISION_HIDDEN, llm_config

transformers = pytest.importorskip("transformers")
from transformers import DynamicCache  # noqa: E402
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb  # noqa: E402


@pytest.fixture(scope="module")
def tiny_llm():
    torch.manual_seed(0)
    return LiveLlamaForCausalLM(llm_config()).eval()


def runtime(llm, capacity=1024):
    return RuntimeBackend(SimpleNamespace(llm=llm, device="cpu", dtype=torch.float32), capacity=capacity)


def feeds_with_vision(n_frames, seed, **kw):
    gen = torch.Generator().manual_seed(seed)
    for f in synthetic_stream(n_frames, seed=seed, **kw):
        vision = None
        if f.kind == "frame":
            vision = torch.randn(1, 10, VISION_HIDDEN, generator=gen)
        yield f, vision


def small_cfg(policy="keyframes"):
    return MemoryConfig(policy=policy, cap_tokens=300, window_frames=6, block_frames=2, longterm_frames=4,
                        text_tokens=60, text_pinned_tokens=16, tau=0.5, heartbeat_s=5.0)


def test_full_policy_equals_plain_runtime(tiny_llm):
    plain = runtime(tiny_llm)
    bounded = BoundedBackend(runtime(tiny_llm), MemoryConfig(policy="full"))
    for f, vision in feeds_with_vision(40, seed=1, p_reply=0.2, p_query=0.05):
        a = plain.prefill(f.ids, vision, [-1])
        b = bounded.prefill(f.ids, vision, [-1])
        assert torch.equal(a, b)
        if f.kind == "reply":
            tok = int(a[0].argmax())
            assert torch.equal(plain.decode(tok), bounded.decode(tok))
    assert bounded.length == plain.length and bounded.events == []
    check_ids(bounded.manager.ledger.ids())


def rope_at(llm, k, positions):
    """transformers' own RoPE: k [1, heads, m, hd] rotated at `positions`."""
    cos, sin = llm.model.rotary_emb(k, positions[None])
    _, k_rot = apply_rotary_pos_emb(k, k, cos, sin)
    return k_rot


@torch.no_grad()
def gather_reference(llm, kept_k, kept_v, ids, vision):
    """Next logits from retained pre-RoPE K/V [layers, kv_heads, m, hd] at contiguous positions."""
    m = kept_k.shape[2]
    pos = torch.arange(m)
    cache = DynamicCache(config=llm.config)
    for layer in range(kept_k.shape[0]):
        cache.update(rope_at(llm, kept_k[layer][None], pos), kept_v[layer][None], layer)
    embeds = embed_stream(llm, torch.tensor([ids]), vision)
    out = llm(inputs_embeds=embeds, past_key_values=cache, position_ids=torch.arange(m, m + len(ids))[None],
              use_cache=True)
    return out.logits[0, -1].float()


@pytest.mark.parametrize("policy", ["keyframes", "window", "recent"])
def test_logits_after_eviction_equal_gather_reference(tiny_llm, policy):
    inner = runtime(tiny_llm, capacity=512)
    bounded = BoundedBackend(inner, small_cfg(policy))
    cache = inner.cache
    captured = []
    original = cache.gather

    def spy(keep):
        k, v = cache.read()
        captured.append((k[:, :, keep].clone(), v[:, :, keep].clone()))
        original(keep)

    cache.gather = spy
    bytes0 = cache.bytes
    assert cache.bytes_per_token() == kv_bytes(1, layers=2, kv_heads=2, head_dim=16, dtype_bytes=4)
    checked, max_len = 0, 0
    for f, vision in feeds_with_vision(120, seed=2, p_reply=0.15, p_query=0.05):
        pending = captured.pop() if captured else None
        logits = bounded.prefill(f.ids, vision, [-1])[0]
        max_len = max(max_len, bounded.length)
        if pending is not None:
            ref = gather_reference(tiny_llm, *pending, f.ids, vision)
            torch.testing.assert_close(logits, ref, atol=2e-4, rtol=1e-4)
            checked += 1
        check_ids(bounded.manager.ledger.ids())
        assert bounded.manager.length == inner.length
    assert checked >= 10
    assert cache.bytes == bytes0                                            # preallocated once
    assert max_len <= small_cfg().cap_tokens + 60                          # cap + one feed


def test_rope_shift_invariance(tiny_llm):
    gen = torch.Generator().manual_seed(3)
    hd = tiny_llm.config.hidden_size // tiny_llm.config.num_attention_heads
    q = torch.randn(1, 1, 8, hd, generator=gen)
    k = torch.randn(1, 1, 8, hd, generator=gen)
    pq = torch.arange(100, 108)
    pk = torch.tensor([0, 3, 17, 40, 41, 60, 80, 99])
    base = rope_at(tiny_llm, q, pq) @ rope_at(tiny_llm, k, pk).transpose(-1, -2)
    for shift in (1, 176, 5000):
        shifted = rope_at(tiny_llm, q, pq + shift) @ rope_at(tiny_llm, k, pk + shift).transpose(-1, -2)
        torch.testing.assert_close(shifted, base, atol=1e-4, rtol=1e-4)


def _rotate(x, pos, theta=500000.0):
    """Standard rotate-half RoPE in float64 at integer positions `pos` [n] (x: [n, hd])."""
    hd = x.shape[-1]
    inv = 1.0 / theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    ang = pos.double()[:, None] * inv[None]
    cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()
    x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
    return x.double() * cos + torch.cat([-x2, x1], -1).double() * sin


def test_bf16_chained_rerotation_drifts_but_fp32_from_pre_rope_does_not():
    gen = torch.Generator().manual_seed(4)
    k_pre = torch.randn(256, 128, generator=gen)
    start = torch.arange(6000, 6256)
    delta = 176                                   # one block of 16 frames
    chained = _rotate(k_pre, start).to(torch.bfloat16)
    errors = []
    for event in range(1, 61):
        chained = _rotate(chained.float(), torch.full((256,), -delta)).to(torch.bfloat16)   # R(-Δ) in bf16
        exact = _rotate(k_pre, start - event * delta)
        errors.append(float((chained.double() - exact).abs().max()))
    direct = _rotate(k_pre.float(), start - 60 * delta).float()          # fp32 from the pre-RoPE copy
    fp32_err = float((direct.double() - _rotate(k_pre, start - 60 * delta)).abs().max())
    one_rounding = float((_rotate(k_pre, start - 60 * delta).to(torch.bfloat16).double()
                          - _rotate(k_pre, start - 60 * delta)).abs().max())
    assert errors[-1] > 3 * errors[0]                      # drift accumulates with events
    assert errors[-1] > 3 * one_rounding                   # far beyond storing once in bf16
    assert fp32_err < 1e-5
