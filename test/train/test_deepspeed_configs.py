"""config/deepspeed/*.json: valid JSON, known keys, "auto" only where the HF Trainer fills it, and — when
DeepSpeed is importable (`DS_BUILD_OPS=0 pip install deepspeed` works on a CPU box) — accepted by
DeepSpeed's own config classes after the HF integration filled the "auto" values."""
import json
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "config/deepspeed").glob("*.json"))

# Keys of DeepSpeed's config documentation (deepspeed.ai/docs/config-json) that we use.
TOP_KEYS = {"bf16", "fp16", "zero_optimization", "gradient_accumulation_steps", "gradient_clipping",
            "train_batch_size", "train_micro_batch_size_per_gpu", "steps_per_print", "wall_clock_breakdown"}
ZERO_KEYS = {"stage", "allgather_partitions", "allgather_bucket_size", "overlap_comm", "reduce_scatter",
             "reduce_bucket_size", "contiguous_gradients", "sub_group_size", "stage3_prefetch_bucket_size",
             "stage3_param_persistence_threshold", "stage3_max_live_parameters", "stage3_max_reuse_distance",
             "stage3_gather_16bit_weights_on_model_save"}
FP16_KEYS = {"enabled", "loss_scale", "loss_scale_window", "initial_scale_power", "hysteresis", "min_loss_scale"}
# Values transformers' HfTrainerDeepSpeedConfig replaces when they are "auto".
HF_AUTO = {"bf16.enabled", "fp16.enabled", "gradient_accumulation_steps", "gradient_clipping", "train_batch_size",
           "train_micro_batch_size_per_gpu", "zero_optimization.reduce_bucket_size",
           "zero_optimization.stage3_prefetch_bucket_size", "zero_optimization.stage3_param_persistence_threshold"}


def _autos(node, prefix=""):
    for k, v in node.items():
        if isinstance(v, dict):
            yield from _autos(v, f"{prefix}{k}.")
        elif v == "auto":
            yield prefix + k


def test_both_stages_present():
    assert [p.name for p in CONFIGS] == ["zero2.json", "zero3.json"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_schema_keys(path):
    cfg = json.loads(path.read_text())
    assert set(cfg) <= TOP_KEYS
    assert set(cfg["zero_optimization"]) <= ZERO_KEYS and set(cfg["fp16"]) <= FP16_KEYS
    assert cfg["zero_optimization"]["stage"] == int(path.stem[-1])
    assert set(_autos(cfg)) <= HF_AUTO


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_deepspeed_accepts_filled_config(path, tmp_path):
    pytest.importorskip("deepspeed", reason="DeepSpeed not installed (DS_BUILD_OPS=0 pip install deepspeed)")
    from deepspeed.runtime.config import DeepSpeedConfig
    from transformers import TrainingArguments
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    hf = HfTrainerDeepSpeedConfig(str(path))
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=1, gradient_accumulation_steps=8,
                             bf16=True, use_cpu=True, report_to="none")
    hf.trainer_config_process(args)
    llm = types.SimpleNamespace(config=types.SimpleNamespace(hidden_size=4096, hidden_sizes=None))
    hf.trainer_config_finalize(args, llm, 1000)
    assert not list(_autos(hf.config))
    ds = DeepSpeedConfig(hf.config)
    assert ds.zero_optimization_stage == int(path.stem[-1]) and ds.train_batch_size == 8
    bad = json.loads(json.dumps(hf.config))
    bad["zero_optimization"]["stage3_typo"] = 1
    with pytest.raises(Exception, match="stage3_typo"):
        DeepSpeedConfig(bad)
