"""Fast decoder + pre-RoPE static cache vs transformers (float32, tiny random configs).

Covers: incremental prefill/decode parity, truncate + re-prefill exactness, gather exactness against the
docs/design/memory.md §10 "gather reference" (retained pre-RoPE K/V, standard RoPE at contiguous positions).
"""
import pytest
import torch
from transformers import (
    DynamicCache,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

from vstream_ros.engine.runtime import steps
from vstream_ros.engine.runtime.runtime_backend import decoder_from_hf
from vstream_ros.engine.runtime.kv_cache import KVCache

TOL = 1e-4


def tiny_llama(seed=0):
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      rope_parameters={"rope_type": "default", "rope_theta": 500000.0}, rms_norm_eps=1e-5)
    return LlamaForCausalLM(cfg).eval()


def tiny_qwen2(seed=0):
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=96, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=256,
                      tie_word_embeddings=True, rms_norm_eps=1e-6)
    m = Qwen2ForCausalLM(cfg).eval()
    with torch.no_grad():          # make the q/k/v biases matter
        for layer in m.model.layers:
            for p in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                p.bias.normal_(0, 0.5)
    return m


def fresh(hf, capacity=128):
    dec = decoder_from_hf(hf)
    c = dec.cfg
    return dec, KVCache(c.num_layers, c.num_kv_heads, capacity, c.head_dim)


def hf_logits(hf, ids):
    with torch.no_grad():
        return hf(torch.tensor([ids])).logits[0].float()


def emb(dec, ids):
    return dec.embed(torch.tensor(ids))


@pytest.mark.parametrize("build", [tiny_llama, tiny_qwen2])
def test_incremental_prefill_and_decode_match_transformers(build):
    hf = build()
    dec, cache = fresh(hf)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, hf.config.vocab_size, (30,), generator=g).tolist()
    ref = hf_logits(hf, ids)
    got = [steps.prefill(dec, cache, emb(dec, ids[:13]), list(range(13))),
           steps.prefill(dec, cache, emb(dec, ids[13:20]), [0, -1])]
    for t in ids[20:]:
        got.append(steps.decode_one_token_eager(dec, cache, torch.tensor([t])))
    assert cache.length == 30
    assert (got[0] - ref[:13]).abs().max() <= TOL
    assert (got[1] - ref[[13, 19]]).abs().max() <= TOL
    dec_logits = torch.cat(got[2:])
    assert (dec_logits - ref[20:]).abs().max() <= TOL


def test_static_decode_step_matches_eager():
    hf = tiny_llama()
    dec, cache = fresh(hf, capacity=64)
    ids = list(range(5, 25))
    steps.prefill(dec, cache, emb(dec, ids[:-1]), [-1])
    pos = torch.tensor([cache.length])
    ref = hf_logits(hf, ids)[-1]
    for span in (None, 32, 20):             # whole capacity, and span buckets (pos = 19 < span)
        static = steps.decode_one_token(dec, cache, torch.tensor([ids[-1]]), pos, span)
        assert (static[0] - ref).abs().max() <= TOL


def test_truncate_then_reprefill_equals_fresh_forward():
    hf = tiny_llama(seed=3)
    dec, cache = fresh(hf)
    a = list(range(1, 21))
    b = [50, 51, 52, 53, 54, 55]
    steps.prefill(dec, cache, emb(dec, a), [-1])
    cache.truncate(12)
    got = steps.prefill(dec, cache, emb(dec, b), list(range(len(b))))
    ref = hf_logits(hf, a[:12] + b)[12:]
    assert cache.length == 18
    assert (got - ref).abs().max() <= TOL


def _hf_pre_rope_kv(hf, ids):
    """Pre-RoPE K/V per layer [KVH, T, hd], captured from transformers' own k_proj/v_proj."""
    cfg = hf.config
    hd = cfg.hidden_size // cfg.num_attention_heads
    got, hooks = {}, []
    for i, layer in enumerate(hf.model.layers):
        for name in ("k_proj", "v_proj"):
            def hook(mod, inp, out, i=i, name=name):
                got[(i, name)] = out[0].view(-1, cfg.num_key_value_heads, hd).transpose(0, 1)
            hooks.append(getattr(layer.self_attn, name).register_forward_hook(hook))
    hf_logits(hf, ids)
    for h in hooks:
        h.remove()
    return [(got[(i, "k_proj")], got[(i, "v_proj")]) for i in range(cfg.num_hidden_layers)]


def test_gather_matches_gather_reference():
    hf = tiny_llama(seed=5)
    dec, cache = fresh(hf)
    ids = torch.randint(0, 128, (30,), generator=torch.Generator().manual_seed(2)).tolist()
    new = [7, 8, 9]
    keep = [0, 1, 2, 3, 9, 10, 11, 20, 25, 26, 27, 28, 29]
    steps.prefill(dec, cache, emb(dec, ids), [-1])
    cache.gather(keep)
    assert cache.length == len(keep)
    got = steps.prefill(dec, cache, emb(dec, new), [0, 1, 2])

    # Reference: HF's pre-RoPE K/V of the kept slots, rotated by HF's RoPE at positions 0..m-1, in a DynamicCache.
    kv = _hf_pre_rope_kv(hf, ids)
    m = len(keep)
    ref_cache = DynamicCache(config=hf.config)
    pos = torch.arange(m)[None]
    dummy = torch.zeros(1, m, hf.config.hidden_size)
    cos, sin = hf.model.rotary_emb(dummy, pos)
    for layer, (k, v) in enumerate(kv):
        k_keep, v_keep = k[:, keep][None], v[:, keep][None]
        k_rot, _ = apply_rotary_pos_emb(k_keep, k_keep, cos, sin)
        ref_cache.update(k_rot, v_keep, layer)
    with torch.no_grad():
        ref = hf(torch.tensor([new]), past_key_values=ref_cache,
                 position_ids=torch.arange(m, m + 3)[None]).logits[0]
    assert (got - ref).abs().max() <= TOL
    # And gathering changes the answer (the test could fail): the full-cache logits differ.
    assert (got - hf_logits(hf, ids + new)[-3:]).abs().max() > 1e-3


def test_rope_shift_invariance_of_scores():
    from vstream_ros.engine.runtime.decoder import apply_rope, rope_table
    dec, _ = fresh(tiny_llama())
    cos, sin = rope_table(dec.cfg, 200)
    q, k = torch.randn(1, 1, 16), torch.randn(1, 1, 16)
    s1 = apply_rope(q, cos[[10]], sin[[10]]) @ apply_rope(k, cos[[3]], sin[[3]]).transpose(-1, -2)
    s2 = apply_rope(q, cos[[110]], sin[[110]]) @ apply_rope(k, cos[[103]], sin[[103]]).transpose(-1, -2)
    assert torch.allclose(s1, s2, atol=1e-4)


def test_decode_step_traces_as_one_graph_for_compilation():
    """torch.compile(fullgraph=True) must trace the static decode step with no graph break (dynamo only:
    the inductor/CUDA-graph path runs on GPUs). Catches host syncs and untraceable Python in the step."""
    hf = tiny_llama(seed=7)
    dec, cache = fresh(hf, capacity=64)
    ids = list(range(3, 23))
    steps.prefill(dec, cache, emb(dec, ids[:-1]), [-1])
    fn = torch.compile(steps.decode_one_token, fullgraph=True, dynamic=True, backend="eager")
    ref = hf_logits(hf, ids)[-1]
    for span in (32, 48):
        out = fn(dec, cache, torch.tensor([ids[-1]]), torch.tensor([cache.length]), span)
        assert (out[0] - ref).abs().max() <= TOL
    fwd = torch.compile(steps.prefill_forward, dynamic=True, backend="eager")
    cache.truncate(5)
    for a, b in ((5, 12), (12, 20)):
        out = steps.prefill(dec, cache, emb(dec, ids[a:b]), [0, -1], forward=fwd)
        assert (out - hf_logits(hf, ids[:b])[[a, b - 1]]).abs().max() <= TOL
