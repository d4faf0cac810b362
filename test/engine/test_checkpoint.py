"""Checkpoint loading: the published layout loads, merged == unmerged, malformed checkpoints fail clearly."""
import json
import shutil

import pytest
import torch

from vstream_ros.engine.checkpoint import CheckpointError, load_live_model
from vstream_ros.engine.live_model import embed_stream
from vstream_ros.testing.tiny import random_vision_tokens, stream_ids


def test_published_layout_keys(tiny_paths):
    from safetensors import safe_open
    cfg = json.loads((tiny_paths.checkpoint / "adapter_config.json").read_text())
    assert cfg["modules_to_save"] == ["connector"] and cfg["peft_type"] == "LORA"
    assert cfg["target_modules"] == r"model.*(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)|lm_head$"
    with safe_open(str(tiny_paths.checkpoint / "adapter_model.safetensors"), "pt") as f:
        keys = set(f.keys())
    assert {"base_model.model.connector.0.weight", "base_model.model.connector.2.bias",
            "base_model.model.lm_head.lora_A.weight", "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"} <= keys
    assert not any("embed_tokens" in k for k in keys)
    assert not any(k.startswith("base_model.model.lm_head.weight") for k in keys)


def _logits(model, protocol):
    ids = stream_ids(protocol, 4)
    with torch.no_grad():
        e = embed_stream(model.llm, torch.tensor([ids]), random_vision_tokens(4, seed=3))
        return model.llm(inputs_embeds=e).logits[0].float()


def test_merged_and_unmerged_give_the_same_logits(tiny_paths, tiny_model):
    unmerged = load_live_model(tiny_paths.spec(merge_lora=False))
    assert hasattr(unmerged.llm, "peft_config")
    a, b = _logits(tiny_model, tiny_model.protocol), _logits(unmerged, unmerged.protocol)
    assert (a - b).abs().max().item() <= 1e-4


def test_adapter_changes_the_model(tiny_paths, tiny_model):
    """Loading the base alone must differ: the LoRA and connector really come from the adapter."""
    from vstream_ros.engine.live_model import LiveLlamaForCausalLM
    base = LiveLlamaForCausalLM.from_pretrained(str(tiny_paths.llm)).eval()
    ids = stream_ids(tiny_model.protocol, 2)
    with torch.no_grad():
        e1 = embed_stream(base, torch.tensor([ids]), random_vision_tokens(2, seed=3))
        e2 = embed_stream(tiny_model.llm, torch.tensor([ids]), random_vision_tokens(2, seed=3))
        assert (base(inputs_embeds=e1).logits - tiny_model.llm(inputs_embeds=e2).logits).abs().max() > 1e-3


@pytest.fixture()
def broken(tiny_paths, tmp_path):
    """A writable copy of the tiny checkpoint folder."""
    dst = tmp_path / "ckpt"
    shutil.copytree(tiny_paths.checkpoint, dst)
    return dst


def _load(tiny_paths, ckpt, **kw):
    return load_live_model(tiny_paths.spec(checkpoint=str(ckpt), **kw))


def test_missing_folder(tiny_paths, tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        _load(tiny_paths, tmp_path / "nope")


def test_missing_adapter_config(tiny_paths, broken):
    (broken / "adapter_config.json").unlink()
    with pytest.raises(CheckpointError, match="adapter_config.json is missing"):
        _load(tiny_paths, broken)


def test_invalid_adapter_config_json(tiny_paths, broken):
    (broken / "adapter_config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        _load(tiny_paths, broken)


def test_missing_weights(tiny_paths, broken):
    (broken / "adapter_model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="adapter weights missing"):
        _load(tiny_paths, broken)


def test_corrupt_weights(tiny_paths, broken):
    (broken / "adapter_model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="cannot be read"):
        _load(tiny_paths, broken)


def _rewrite_tensors(path, fn):
    from safetensors.torch import load_file, save_file
    t = load_file(str(path))
    save_file(fn(t), str(path))


def test_missing_connector(tiny_paths, broken):
    _rewrite_tensors(broken / "adapter_model.safetensors",
                     lambda t: {k: v for k, v in t.items() if "connector" not in k})
    with pytest.raises(CheckpointError, match="connector weights missing"):
        _load(tiny_paths, broken)


def test_connector_not_in_modules_to_save(tiny_paths, broken):
    cfg = json.loads((broken / "adapter_config.json").read_text())
    cfg["modules_to_save"] = []
    (broken / "adapter_config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="modules_to_save lacks 'connector'"):
        _load(tiny_paths, broken)


def test_wrong_lora_shape(tiny_paths, broken):
    key = "base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight"
    _rewrite_tensors(broken / "adapter_model.safetensors",
                     lambda t: {**t, key: torch.zeros(t[key].shape[0] * 2, t[key].shape[1])})
    with pytest.raises(CheckpointError, match="k_proj.lora_B.weight has shape"):
        _load(tiny_paths, broken)


def test_wrong_base_model(tiny_paths, tmp_path):
    from vstream_ros.engine.live_model import LiveLlamaForCausalLM
    from vstream_ros.testing.tiny import llm_config
    other = tmp_path / "other_llm"
    LiveLlamaForCausalLM(llm_config(hidden_size=32, intermediate_size=64)).save_pretrained(other)
    with pytest.raises(CheckpointError, match="wrong base model"):
        _load(tiny_paths, tiny_paths.checkpoint, llm=str(other))


def test_base_with_other_vocabulary(tiny_paths, tmp_path):
    from vstream_ros.engine.live_model import LiveLlamaForCausalLM
    from vstream_ros.testing.tiny import llm_config
    other = tmp_path / "small_vocab"
    LiveLlamaForCausalLM(llm_config(vocab_size=1000, bos_token_id=1, eos_token_id=2)).save_pretrained(other)
    with pytest.raises(CheckpointError, match="vocab 1000"):
        _load(tiny_paths, tiny_paths.checkpoint, llm=str(other))


def test_missing_base_model(tiny_paths, tmp_path):
    with pytest.raises(CheckpointError, match="base LLM .* not found"):
        _load(tiny_paths, tiny_paths.checkpoint, llm=str(tmp_path / "absent"))


def test_wrong_vision_width(tiny_paths, tmp_path):
    from transformers import SiglipVisionModel
    from vstream_ros.testing.tiny import vision_config
    v = tmp_path / "wide_vision"
    SiglipVisionModel(vision_config(hidden_size=48, num_attention_heads=2)).save_pretrained(v)
    with pytest.raises(CheckpointError, match="wrong --vision"):
        _load(tiny_paths, tiny_paths.checkpoint, vision=str(v))


def test_unreachable_hub_id_is_one_clear_error(tiny_paths):
    with pytest.raises(CheckpointError, match="is not a local folder .*pass a local folder with --model DIR"):
        _load(tiny_paths, "someone/not-a-real-checkpoint-xyz")
