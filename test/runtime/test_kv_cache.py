"""KVCache: the narrow API the bounded-memory manager relies on."""
import pytest
import torch

from vstream_ros.engine.runtime.kv_cache import CacheFullError, KVCache


def filled(n=10, capacity=16):
    c = KVCache(layers=2, kv_heads=2, capacity=capacity, head_dim=4)
    k = torch.arange(2 * 2 * n * 4, dtype=torch.float32).view(2, 2, n, 4)
    c.append(k, -k)
    return c, k


def test_sizes_and_bytes():
    c, _ = filled()
    assert (c.length, c.capacity, c.free) == (10, 16, 6)
    assert c.bytes == 2 * 2 * 2 * 16 * 4 * 4
    assert c.bytes_per_token() == 2 * 2 * 2 * 4 * 4


def test_gather_compacts_in_order_and_read_returns_copies():
    c, k = filled()
    c.gather([1, 4, 5, 9])
    rk, rv = c.read()
    assert c.length == 4
    assert torch.equal(rk, k[:, :, [1, 4, 5, 9]]) and torch.equal(rv, -k[:, :, [1, 4, 5, 9]])
    rk.zero_()
    assert not torch.equal(c.read()[0], rk)


@pytest.mark.parametrize("keep", [[3, 2], [0, 0], [10], [-1]])
def test_gather_rejects_bad_indices(keep):
    c, _ = filled()
    with pytest.raises(ValueError):
        c.gather(keep)
    assert c.length == 10


def test_truncate_bounds_and_overflow():
    c, k = filled()
    c.truncate(3)
    assert c.length == 3 and torch.equal(c.read()[0], k[:, :, :3])
    with pytest.raises(ValueError):
        c.truncate(4)
    with pytest.raises(CacheFullError, match="capacity"):
        c.append(torch.zeros(2, 2, 14, 4), torch.zeros(2, 2, 14, 4))
    assert c.length == 3
    with pytest.raises(ValueError):
        c.append(torch.zeros(2, 3, 1, 4), torch.zeros(2, 3, 1, 4))
    c.gather([])
    assert c.length == 0


def test_grow_keeps_entries_and_backend_grows_when_eager():
    c, k = filled(n=10, capacity=10)
    c.grow(20)
    assert c.capacity == 20 and c.length == 10 and torch.equal(c.read()[0], k)
    with pytest.raises(ValueError):
        c.grow(5)


def test_eager_steps_grow_a_full_cache_with_exact_logits():
    from transformers import LlamaConfig, LlamaForCausalLM

    from vstream_ros.engine.runtime.runtime_backend import decoder_from_hf
    from vstream_ros.engine.runtime.compiled_steps import Steps
    torch.manual_seed(0)
    hf = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=1,
                                      max_position_embeddings=16)).eval()
    dec = decoder_from_hf(hf)
    cache = KVCache(1, 1, 8, 16)
    ids = list(range(1, 21))
    strict = Steps(dec, KVCache(1, 1, 8, 16), eager=True, grow=False)
    with pytest.raises(CacheFullError):
        strict.prefill(dec.embed(torch.tensor(ids[:12])), [-1])
    steps = Steps(dec, cache, eager=True, grow=True)
    steps.prefill(dec.embed(torch.tensor(ids[:12])), [-1])
    for t in ids[12:-1]:
        steps.decode(t)
    last = steps.decode(ids[-1])
    assert cache.capacity >= 20 and cache.length == 20
    with torch.no_grad():
        ref = hf(torch.tensor([ids])).logits[0, -1]
    assert (last - ref).abs().max() <= 1e-4


def test_rotated_keys_equal_rotating_all_after_every_change():
    """KVCache.rotated keeps rotated keys between forwards; after writes, truncate, gather (with and without a kept
    prefix), append, grow and reset they equal rotating every slot afresh, bit for bit, and only the slots not
    rotated yet are rotated again."""
    from vstream_ros.engine.runtime.decoder import apply_rope
    g = torch.Generator().manual_seed(0)
    cos, sin = torch.randn(64, 4, generator=g), torch.randn(64, 4, generator=g)
    rotated = []

    def rotate(keys, a, b):
        rotated.append(b - a)
        return apply_rope(keys, cos[a:b], sin[a:b])

    def check(c):
        for layer in range(2):
            n = c.length
            assert torch.equal(c.rotated(layer, n, rotate), apply_rope(c.k[layer, :, :n], cos[:n], sin[:n]))

    c = KVCache(layers=2, kv_heads=2, capacity=16, head_dim=4)

    def write(n):
        start = c.reserve(n)
        for layer in range(2):
            c.write(layer, start, torch.randn(2, n, 4, generator=g), torch.randn(2, n, 4, generator=g))
        c.advance(n)

    write(6)
    check(c)
    rotated.clear()
    write(3)
    check(c)
    assert rotated == [3, 3]                    # only the new slots, per layer
    rotated.clear()
    check(c)
    assert rotated == []
    c.truncate(4)
    write(2)
    check(c)
    c.gather([0, 1, 2, 4, 5])                   # slots 0..2 stay in place, the rest move
    rotated.clear()
    check(c)
    assert rotated == [2, 2]
    c.gather([1, 3])                            # everything moves
    check(c)
    c.append(torch.randn(2, 2, 3, 4, generator=g), torch.randn(2, 2, 3, 4, generator=g))
    check(c)
    c.grow(32)
    write(20)
    check(c)
    c.reset()
    write(2)
    check(c)
