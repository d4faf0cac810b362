"""StreamProtocol: the VideoLLM-online stream grammar, the one place that builds its token ids and texts.

    SINK = <|begin_of_text|> system "\\n" "\\n["          (the stream's first prefix)
    run  = frame ("," frame)*          frame = `frame_tokens` × <v>   (live1+: 10; live1: 1)
    reply (proactive, after a frame decided "speak")  = "]\\nAssistant:" content <|eot_id|>
    query = "]\\nUser: q\\nAssistant:" (inside a run) | "<|eot_id|>\\nUser: q\\nAssistant:" (after a reply)
    next frame after a reply = "<|eot_id|>\\n["        (the reply's <|eot_id|> is fed with it, not after it)

Inference (engine.session, engine.pipeline_llm), teacher-forced metrics (engine.teacher_forced), training
dialogues (train.dialogue, the text form tokenised as one string), the tiny test model (testing.tiny) and
the lab's experiments all take their ids from here; the memory grammar (engine.memory.grammar) parses what
this builds. Details: docs/design/stream-format.md §4–§6.

Every piece is tokenised as ONE string with `add_special_tokens=False` (piecewise tokenisation changes ids,
e.g. `.\\n\\n[` vs `.\\n` + `\\n[`); `build` checks the pinned Llama-3 ids of the pieces.

Imports: stdlib and engine.template (pinned ids, strings). Never torch, never ROS.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Sequence

from .template import BOS, BOS_ID, EOT, EOT_ID, FRAME_NUM_TOKENS, SILENT_ID, SPEAK_ID, SYSTEM_PROMPT, V_TOKEN, \
    V_TOKEN_ID

OPEN_RUN_ID = 58            # `[`
ASSISTANT_ID = 72803        # `Assistant`
COLON_ID = 25               # `:`
NEWLINE_ID = 198            # `\n`
USER_ID = 1502              # `User`
REPLY_PROMPT_IDS = (SPEAK_ID, ASSISTANT_ID, COLON_ID)       # `]\nAssistant:`
AFTER_REPLY_IDS = (EOT_ID, NEWLINE_ID, OPEN_RUN_ID)         # `<|eot_id|>\n[`


class StreamState(Enum):
    """Where the token stream stands; decides which prefix the next frame or query needs."""

    START = 0        # nothing fed yet (the cache is empty)
    IN_RUN = 1       # last fed item was a frame inside an open `[ ... ` run
    AFTER_REPLY = 2  # an assistant turn just ended; its <|eot_id|> is not in the cache yet


# ------------------------------------------------------------------ the grammar as text
def frame_prefix_text(state: StreamState, system: str = SYSTEM_PROMPT) -> str:
    """Text fed before a frame's `<v>` embeddings."""
    if state is StreamState.START:
        return BOS + system + "\n" + "\n["
    if state is StreamState.IN_RUN:
        return ","
    return EOT + "\n["


def query_prompt_text(state: StreamState, query: str, system: str = SYSTEM_PROMPT) -> str:
    """Text fed for a user query, ending with the generation prompt `\\nAssistant:`.

    IN_RUN uses the demo form `]\\nUser: q`; AFTER_REPLY uses the training form `<|eot_id|>\\nUser: q` (the
    original demo drops the pending EOS: a quirk we fix); START renders the system turn first."""
    if state is StreamState.START:
        head = BOS + system + "\n" + "\nUser: "
    elif state is StreamState.IN_RUN:
        head = "]\nUser: "
    else:
        head = EOT + "\nUser: "
    return head + query + "\nAssistant:"


REPLY_PROMPT_TEXT = "]\nAssistant:"   # proactive reply after a frame decided "speak"


def clock_text(t: float) -> str:
    """A capture time as a user reads it: `M:SS` below an hour, `H:MM:SS` from there (seconds truncated)."""
    s = max(0, int(t))
    h, m, sec = s // 3600, s // 60 % 60, s % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def recall_prompt_text(state: StreamState, items, query: str, frame_tokens: int = FRAME_NUM_TOKENS,
                       system: str = SYSTEM_PROMPT) -> str:
    """A query with recalled memory spliced before it (engine/recall): the head of `query_prompt_text` for the
    state, then `\nMemory:` and one line per item in time order — `\nM:SS text` for a line of the narration log,
    `\nM:SS [` frame `,` frame … `]` for a run of recalled frames (`frame_tokens` × `<v>` each) — then
    `\nUser: q\nAssistant:`. `items`: (t, text) or (t, n_frames) pairs."""
    if state is StreamState.START:
        head = BOS + system + "\n"
    elif state is StreamState.IN_RUN:
        head = "]"
    else:
        head = EOT
    lines = []
    for t, what in items:
        body = what if isinstance(what, str) else "[" + ",".join([V_TOKEN * frame_tokens] * int(what)) + "]"
        lines.append("\n" + clock_text(t) + " " + body)
    return head + "\nMemory:" + "".join(lines) + "\nUser: " + query + "\nAssistant:"


# ------------------------------------------------------------------ text: training dialogues (tokenised as one string)
def system_text(system: str = SYSTEM_PROMPT) -> str:
    return BOS + system + "\n"


def stream_text(n_frames: int, frame_tokens: int = FRAME_NUM_TOKENS) -> str:
    """A stream message: `\\n[` frame `,` frame … `]` (the closing `]` is followed by `\\n` of the next turn)."""
    return "\n[" + ",".join([V_TOKEN * frame_tokens] * n_frames) + "]"


def user_text(query: str) -> str:
    return "\nUser: " + query


def assistant_text(content: str) -> tuple[str, str]:
    """(separator, learned span) of an assistant message: `\\n`, then `Assistant: content<|eot_id|>`."""
    return "\n", "Assistant: " + content + EOT


def framed_query_ids(state: StreamState, query_ids: list[int]) -> list[int]:
    """A query around already-tokenised text, without a tokenizer (synthetic streams: assumes no merge at the
    edges, which real text may have, e.g. `?\\n`): `]\\nUser:` q `\\nAssistant:` in a run, `<|eot_id|>\\nUser:` …
    after a reply."""
    head = [SPEAK_ID, USER_ID, COLON_ID] if state is StreamState.IN_RUN else [EOT_ID, NEWLINE_ID, USER_ID, COLON_ID]
    return head + list(query_ids) + [NEWLINE_ID, ASSISTANT_ID, COLON_ID]


def placeholders(frame_tokens: int = FRAME_NUM_TOKENS) -> list[int]:
    """One frame's `<v>` placeholders; their embedding rows take the frame's vision tokens in order."""
    return [V_TOKEN_ID] * frame_tokens


def in_run_frames_ids(n: int, frame_tokens: int = FRAME_NUM_TOKENS, offset: int = 0) -> tuple[list[int], list[int]]:
    """(ids, ends) of n more frames inside an open run (each `,` + `<v>`…); ends = positions of each frame's last
    `<v>`, counted from `offset` (the position of the first id). Needs no tokenizer (the ids are pinned)."""
    ids, ends = [], []
    for _ in range(n):
        ids += [SILENT_ID] + placeholders(frame_tokens)
        ends.append(offset + len(ids) - 1)
    return ids, ends


@dataclass(frozen=True)
class StreamProtocol:
    """Pre-tokenised grammar pieces for one tokenizer. Build once with `StreamProtocol.build(tok)`."""

    tokenizer: object
    first_frame_ids: tuple[int, ...]     # SINK (BOS … `\n[`)
    silent_ids: tuple[int, ...]          # `,`
    after_reply_ids: tuple[int, ...]     # `<|eot_id|>\n[`
    reply_prompt_ids: tuple[int, ...]    # `]\nAssistant:`
    frame_tokens: int = FRAME_NUM_TOKENS

    @classmethod
    def build(cls, tokenizer, frame_tokens: int = FRAME_NUM_TOKENS) -> StreamProtocol:
        if int(frame_tokens) < 1:
            raise ValueError(f"frame_tokens must be ≥ 1 (10 for live1+, 1 for live1), got {frame_tokens}")
        enc = _encoder(tokenizer)
        p = cls(tokenizer=tokenizer, first_frame_ids=enc(frame_prefix_text(StreamState.START)),
                silent_ids=enc(frame_prefix_text(StreamState.IN_RUN)),
                after_reply_ids=enc(frame_prefix_text(StreamState.AFTER_REPLY)),
                reply_prompt_ids=enc(REPLY_PROMPT_TEXT), frame_tokens=int(frame_tokens))
        expected = {"silent_ids": (SILENT_ID,), "after_reply_ids": AFTER_REPLY_IDS,
                    "reply_prompt_ids": REPLY_PROMPT_IDS}
        for name, ids in expected.items():
            if getattr(p, name) != ids:
                raise ValueError(f"tokenizer gives {name}={getattr(p, name)}, expected {ids}: not Llama-3")
        if p.first_frame_ids[0] != BOS_ID or p.first_frame_ids[-2:] != (382, OPEN_RUN_ID):
            raise ValueError(f"tokenizer gives an unexpected stream prefix {p.first_frame_ids}: not Llama-3")
        return p

    # ------------------------------------------------------------------ ids: inference and teacher forcing
    @property
    def v_run(self) -> tuple[int, ...]:
        """One frame's placeholders (`frame_tokens` × `<v>`); their rows take the frame's vision tokens."""
        return tuple(placeholders(self.frame_tokens))

    @property
    def silent_frame_len(self) -> int:
        """Tokens one more frame adds inside a run (`,` + the frame)."""
        return len(self.silent_ids) + self.frame_tokens

    def frame_prefix_ids(self, state: StreamState) -> tuple[int, ...]:
        return {StreamState.START: self.first_frame_ids, StreamState.IN_RUN: self.silent_ids,
                StreamState.AFTER_REPLY: self.after_reply_ids}[state]

    def frames_ids(self, state: StreamState, n: int = 1) -> tuple[list[int], list[int]]:
        """(ids, ends) of n frames fed in one go from `state`: the first with the state's prefix, the others
        after `,`; ends[i] = position of frame i's last `<v>` (where its speak/silent decision is read)."""
        ids = list(self.frame_prefix_ids(state)) + list(self.v_run)
        more, ends = in_run_frames_ids(n - 1, self.frame_tokens, offset=len(ids))
        return ids + more, [len(ids) - 1] + ends

    def reply_prompt(self) -> list[int]:
        """Fed after a frame decided "speak"; greedy decoding follows until <|eot_id|>."""
        return list(self.reply_prompt_ids)

    def query_ids(self, state: StreamState, query: str) -> tuple[int, ...]:
        return self.encode(query_prompt_text(state, query))

    def recall_query_ids(self, state: StreamState, items, query: str) -> tuple[int, ...]:
        """Ids of `recall_prompt_text` (its `<v>` placeholders take the recalled frames' tokens in order)."""
        return self.encode(recall_prompt_text(state, items, query, self.frame_tokens))

    def content_ids(self, text: str) -> list[int]:
        """A reply's content tokens as the model emits them after `Assistant:` (a leading space)."""
        return list(self.encode(" " + text.strip()))

    def forced_reply(self, text: str) -> tuple[list[int], list[int]]:
        """(ids, targets) of a teacher-forced proactive reply: `]\\nAssistant: text`, targets = next tokens
        ending with <|eot_id|>."""
        ids = self.reply_prompt() + self.content_ids(text)
        return ids, ids[1:] + [EOT_ID]

    def state_after_reply(self) -> StreamState:
        return StreamState.AFTER_REPLY

    def stream_text(self, n_frames: int) -> str:
        return stream_text(n_frames, self.frame_tokens)

    # ------------------------------------------------------------------ tokenizer
    def encode(self, text: str) -> tuple[int, ...]:
        return _encoder(self.tokenizer)(text)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)


def _encoder(tokenizer):
    def enc(text: str) -> tuple[int, ...]:
        return tuple(tokenizer(text, add_special_tokens=False)["input_ids"])
    return enc


__all__ = ["StreamProtocol", "StreamState", "in_run_frames_ids", "placeholders", "system_text", "stream_text", "user_text",
           "assistant_text", "framed_query_ids", "clock_text", "recall_prompt_text", "REPLY_PROMPT_IDS", "AFTER_REPLY_IDS", "USER_ID", "frame_prefix_text", "query_prompt_text", "REPLY_PROMPT_TEXT",
           "OPEN_RUN_ID", "ASSISTANT_ID", "COLON_ID", "NEWLINE_ID"]
