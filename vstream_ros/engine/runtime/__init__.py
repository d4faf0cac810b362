"""Fast runtime: compact Llama-family decoder, static pre-RoPE KV cache, compiled steps, RuntimeBackend.

Imports: torch only (transformers is touched only through a loaded model's config/state dict).
"""
from .decoder_config import DecoderConfig
from .kv_cache import CacheFullError, KVCache

__all__ = ["CacheFullError", "DecoderConfig", "KVCache"]
