"""Stream dialogues: our JSONL format and the conversation → (input ids, labels, frames) builder.

A stream dialogue is one video interval plus a conversation of three roles (docs/design/stream-format.md §5, §7):

    {"role": "stream", "num_frames": N, "learn": true | false | k}   N frames of 10 `<v>` each
    {"role": "user", "content": "..."}
    {"role": "assistant", "content": "...", "learn": true | false}

JSONL file = one `StreamDialogue.to_json()` object per line:
    {"id", "video_uid", "start_frame", "fps", "text_variant", "features" (optional path), "conversation"}
Frames `start_frame … start_frame + total_frames − 1` of the video's feature file are used, in order.
Defaults: `learn` is true for streams and assistants when absent; the system prompt is SYSTEM_PROMPT
unless the conversation starts with {"role": "system", "content": ...}.

Labels are pre-shifted (label[i] = target token i+1, −100 = ignored) and placed exactly as upstream:
  * learned stream frame → its LAST `<v>` learns the next token: `,` (11) inside the run, `]\\n` (933)
    on the run's last frame (a trailing stream that ends the conversation has no `]\\n`: its last
    frame is left unlabelled);  `learn = k` learns the first k frames only;
  * learned assistant → every token of `Assistant: content<|eot_id|>` is a target, so the token
    before it (`]\\n`, `\\n` or a merged `?\\n`) learns `Assistant` and the last content token learns EOS;
  * everything else is −100.

Imports: stdlib, engine.template (tokenizer constants). Never torch models, never ROS.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from vstream_ros.atomic import write_jsonl_atomic
from vstream_ros.engine.template import (
    BOS,
    EOT,
    FRAME_NUM_TOKENS,
    SILENT_ID,
    SPEAK_ID,
    SYSTEM_PROMPT,
    V_TOKEN,
    V_TOKEN_ID,
)
from vstream_ros.engine.protocol import assistant_text, stream_text, system_text, user_text
from vstream_ros.engine.teacher_forced import IGNORE

ROLES = ("system", "stream", "user", "assistant")


class DialogueError(ValueError):
    """A conversation or JSONL line that cannot be used (message says which and why)."""


def _learn_frames(msg: dict) -> int:
    """How many leading frames of a stream message are learned."""
    learn = msg.get("learn", True)
    n = msg["num_frames"]
    if learn is True:
        return n
    if learn is False or learn is None:
        return 0
    return max(0, min(int(learn), n))


def validate_conversation(conv: Sequence[dict]) -> list[dict]:
    """Check roles/fields and return a normalised copy; raises DialogueError with the bad index."""
    if not isinstance(conv, (list, tuple)) or not conv:
        raise DialogueError("conversation must be a non-empty list of messages")
    out = []
    for i, m in enumerate(conv):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise DialogueError(f"message {i}: role must be one of {ROLES}, got {m!r:.80}")
        role = m["role"]
        if role == "system" and i != 0:
            raise DialogueError(f"message {i}: a system message may only come first")
        if role == "stream":
            n = m.get("num_frames")
            if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
                raise DialogueError(f"message {i}: stream num_frames must be a positive int, got {n!r}")
            learn = m.get("learn", True)
            if not isinstance(learn, (bool, int)):
                raise DialogueError(f"message {i}: stream learn must be true, false or an int, got {learn!r}")
            if i > 0 and out[-1]["role"] == "stream":
                raise DialogueError(f"message {i}: two consecutive stream messages (merge them)")
            out.append({"role": "stream", "num_frames": n, "learn": learn})
        else:
            text = m.get("content")
            if not isinstance(text, str) or not text.strip():
                raise DialogueError(f"message {i}: {role} content must be a non-empty string")
            if V_TOKEN in text or BOS in text or EOT in text:
                raise DialogueError(f"message {i}: content contains a reserved token ({V_TOKEN}, {BOS} or {EOT})")
            msg = {"role": role, "content": text}
            if role == "assistant":
                msg["learn"] = bool(m.get("learn", True))
            out.append(msg)
    if all(m["role"] == "system" for m in out):
        raise DialogueError("conversation has no stream, user or assistant message")
    return out


def total_frames(conv: Iterable[dict]) -> int:
    return sum(m["num_frames"] for m in conv if m["role"] == "stream")


@dataclass(frozen=True)
class StreamDialogue:
    """One training sample: a conversation over frames start_frame… of one video's feature file."""

    id: str
    video_uid: str
    conversation: list = field(default_factory=list)
    start_frame: int = 0
    fps: float = 2.0
    text_variant: str = "unknown"   # raw | cleaned | refined | rule-based | llm:<model id> | user
    features: str | None = None     # explicit feature file; else <features_dir>/<video_uid>.{safetensors,pt}

    @property
    def num_frames(self) -> int:
        return total_frames(self.conversation)

    def to_json(self) -> dict:
        d = {"id": self.id, "video_uid": self.video_uid, "start_frame": self.start_frame, "fps": self.fps,
             "text_variant": self.text_variant, "conversation": self.conversation}
        if self.features:
            d["features"] = self.features
        return d

    @classmethod
    def from_json(cls, d: dict) -> StreamDialogue:
        if not isinstance(d, dict):
            raise DialogueError(f"a dialogue must be a JSON object, got {type(d).__name__}")
        uid = d.get("video_uid")
        if not isinstance(uid, str) or not uid:
            raise DialogueError("missing video_uid")
        start = d.get("start_frame", 0)
        if not isinstance(start, int) or isinstance(start, bool) or start < 0:
            raise DialogueError(f"start_frame must be an int >= 0, got {start!r}")
        fps = d.get("fps", 2.0)
        if not isinstance(fps, (int, float)) or not fps > 0:
            raise DialogueError(f"fps must be > 0, got {fps!r}")
        return cls(id=str(d.get("id") or uid), video_uid=uid, conversation=validate_conversation(d.get("conversation")),
                   start_frame=start, fps=float(fps), text_variant=str(d.get("text_variant", "unknown")),
                   features=d.get("features"))


def read_dialogues(path: str) -> tuple[list[StreamDialogue], Counter]:
    """Read a JSONL file; bad lines are skipped and counted by reason (never raised one by one).

    Raises DialogueError when the file holds no usable dialogue at all.
    """
    out, skipped = [], Counter()
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                out.append(StreamDialogue.from_json(json.loads(line)))
            except json.JSONDecodeError:
                skipped["invalid JSON"] += 1
            except DialogueError as e:
                skipped[re.sub(r"^message \d+: ", "", str(e))[:80]] += 1
    if not out:
        raise DialogueError(f"{path}: no usable dialogue (skipped: {dict(skipped) or 'file empty'})")
    return out, skipped


def write_dialogues(path: str, dialogues: Iterable[StreamDialogue]) -> int:
    """Write JSONL atomically (tmp + os.replace); returns the number of lines."""
    return write_jsonl_atomic(path, (dia.to_json() for dia in dialogues))


# --------------------------------------------------------------------------------------------------
# Rendering and label placement
# --------------------------------------------------------------------------------------------------

def render(conv: Sequence[dict]) -> tuple[str, list[tuple[int, int]], list[tuple[int, int]]]:
    """Render a validated conversation to the exact template text (docs/design/stream-format.md §5).

    Returns (text, assistant_spans, stream_learn) where assistant_spans are char ranges
    `Assistant…<|eot_id|>` of learned assistants and stream_learn is (frames in message, learned frames)
    per stream message in order.
    """
    parts: list[str] = []
    pos = 0
    spans: list[tuple[int, int]] = []
    streams: list[tuple[int, int]] = []

    def add(s: str):
        nonlocal pos
        parts.append(s)
        pos += len(s)

    body = list(conv)
    system = SYSTEM_PROMPT
    if body and body[0]["role"] == "system":
        system = body.pop(0)["content"]
    add(system_text(system))
    for m in body:
        if m["role"] == "stream":
            add(stream_text(m["num_frames"]))
            streams.append((m["num_frames"], _learn_frames(m)))
        elif m["role"] == "user":
            add(user_text(m["content"]))
        else:
            sep, span = assistant_text(m["content"])
            add(sep)
            start = pos
            add(span)
            if m.get("learn", True):
                spans.append((start, pos))
    return "".join(parts), spans, streams


@dataclass(frozen=True)
class EncodedSample:
    """Token ids, pre-shifted labels (−100 = ignored) and the number of frames (`<v>` count / 10)."""

    input_ids: list
    labels: list
    num_frames: int


def encode_dialogue(conv: Sequence[dict], tokenizer) -> EncodedSample:
    """Tokenise the rendered conversation as ONE string and place labels (see module docstring)."""
    text, spans, streams = render(conv)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = list(enc["input_ids"])
    offsets = enc["offset_mapping"]
    labels = [IGNORE] * len(ids)
    v_pos = [i for i, t in enumerate(ids) if t == V_TOKEN_ID]
    n_frames = sum(n for n, _ in streams)
    if len(v_pos) != n_frames * FRAME_NUM_TOKENS:
        raise DialogueError(f"tokenizer produced {len(v_pos)} `<v>` tokens for {n_frames} frames: "
                            f"is `<v>` registered as id {V_TOKEN_ID}?")
    frame = 0
    for n, learn in streams:
        for j in range(learn):
            last = v_pos[(frame + j) * FRAME_NUM_TOKENS + FRAME_NUM_TOKENS - 1]
            nxt = ids[last + 1] if last + 1 < len(ids) else None
            if nxt == SILENT_ID or nxt == SPEAK_ID:
                labels[last] = nxt
            elif j < n - 1 or nxt is not None and nxt != 60:   # 60 = `]` (trailing stream, no turn follows)
                raise DialogueError(f"frame end followed by token {nxt}, expected `,` or `]\\n`")
        frame += n
    # assistant spans: every token starting inside [start, stop) is a target of the position before it
    k = 0
    for start, stop in spans:
        while k < len(ids) and offsets[k][0] < start:
            k += 1
        if k >= len(ids) or offsets[k][0] != start:
            raise DialogueError("`Assistant` does not start a token: tokenizer is not Llama-3")
        while k < len(ids) and offsets[k][0] < stop:
            labels[k - 1] = ids[k]
            k += 1
    return EncodedSample(input_ids=ids, labels=labels, num_frames=n_frames)
