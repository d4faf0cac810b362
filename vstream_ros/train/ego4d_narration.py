"""Ego4D narration stream builder (docs/design/ego4d-data.md §2–§5): narrations → stream dialogues.

Sources: `all_narrations_redacted.json` ({"videos": {uid: {"narrations": [{time, text, _annotation_uid}]}}},
what VideoLLM-online reads) or the official `narration.json` ({uid: {narration_pass_1/2: {narrations: [
{timestamp_sec, narration_text, annotation_uid}]}}}). Each annotator pass becomes its own sample.

Text variants (recorded in every sample's `text_variant`; the instruction matches it):
  * "cleaned"     VO cleaning (§4) with the tag instruction (`Use the tag 'C' …`);
  * "rule-based"  cleaned, then a deterministic `C <verb>s` → `You <verb>` rewrite — an APPROXIMATION of the
                  upstream Llama-3 refinement, not its output — with second-person instructions;
  * "refined"     cleaned text looked up in a {cleaned: refined} map (e.g. from `vstream synthesize-dialogues
                  --task refine-narration`); texts missing from the map are counted and dropped.
All grid arithmetic is in integer frame indices: narration time t → frame ceil(t·fps), clipped to [0, T−1].

Imports: stdlib, train.dialogue. Never torch models, never ROS.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field

from .dialogue import StreamDialogue, validate_conversation

MAX_FRAMES = 1200
TAG_INSTRUCTION = ("Please concisely narrate the video in real time. Use the tag 'C' to denote the camera wearer, "
                   "and other letter tags, such as 'X', to denote other individuals in the scene.")
# Second-person instructions: the first two are the spec's examples, the rest are our own wording.
YOU_INSTRUCTIONS = (
    "Please concisely narrate the video in real time.",
    "Help me to illustrate my view in short.",
    "Describe what I am doing, briefly and as it happens.",
    "Narrate my actions concisely while I work.",
    "Tell me in a few words what happens in my view, as it happens.",
    "Keep a short running commentary of what I do.",
    "Give me brief real-time narration of this video.",
    "Briefly narrate each thing I do as I do it.",
    "Summarise my activity step by step in real time, concisely.",
    "Please describe my actions concisely in real time.",
)
VARIANTS = ("cleaned", "rule-based", "refined")


class DatasetError(ValueError):
    """No usable sample could be built; the message carries the counts of what was skipped and why."""


@dataclass
class BuildReport:
    """Counts of what the builder kept and skipped (printed by the CLI, raised in DatasetError)."""

    videos: int = 0
    samples: int = 0
    skipped: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        parts = ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped.items())) or "none"
        return f"{self.samples} samples from {self.videos} videos; skipped {parts}"


_TAGS = ("#C", "#c", "@c", "#O", "#o", "#Unsure", "#unsure")


def clean_text(text: str) -> str | None:
    """VO `_clean_text` rules (§4); None when fewer than two words remain."""
    for tag in _TAGS:
        text = text.replace(tag, "")
    text = text.replace("#", "").strip(".,\n ")
    words = text.split()
    if len(words) < 2:
        return None
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


_IRREGULAR = {"has": "have", "is": "are", "does": "do", "goes": "go", "was": "were"}
_OTHER_LETTER = re.compile(r"\b(man|woman|person|lady|boy|girl|child|kid) [A-Z]\b", re.IGNORECASE)


def _base_verb(v: str) -> str:
    lo = v.lower()
    if lo in _IRREGULAR:
        return _IRREGULAR[lo]
    if lo.endswith("ies") and len(lo) > 4:
        return v[:-3] + "y"
    if re.search(r"(ss|sh|ch|x|z|o)es$", lo):
        return v[:-2]
    if lo.endswith("s") and not lo.endswith("ss"):
        return v[:-1]
    return v


def rule_based_you(text: str) -> str:
    """APPROXIMATION of the Llama-3 refinement: `C picks up a knife.` → `You pick up a knife.`.

    Only the wearer letter C and the letters after man/woman/person… are rewritten; other tags stay.
    """
    words = text.split()
    if words and words[0] == "C":
        words = ["You"] + ([_base_verb(words[1])] if len(words) > 1 else []) + words[2:]
    out = " ".join(words)
    out = re.sub(r"\bC's\b", "your", out)
    out = re.sub(r"\bC\b", "you", out)
    return _OTHER_LETTER.sub(lambda m: m.group(1), out)


def read_narrations(data: dict) -> dict[str, dict[str, list]]:
    """Either source schema → {uid: {pass_uid: [(time, raw_text), …]}} (times unchecked)."""
    out: dict[str, dict[str, list]] = {}
    if isinstance(data.get("videos"), dict):                   # all_narrations_redacted.json (skip `_map_errs`)
        for uid, v in data["videos"].items():
            passes: dict[str, list] = {}
            for n in (v or {}).get("narrations") or []:
                if n.get("is_summary"):
                    continue
                passes.setdefault(str(n.get("_annotation_uid", "pass")), []).append((n.get("time"), n.get("text")))
            out[uid] = passes
        return out
    for uid, v in data.items():                                 # official narration.json
        if not isinstance(v, dict):
            continue
        passes = {}
        for key in ("narration_pass_1", "narration_pass_2"):
            for n in ((v.get(key) or {}).get("narrations") or []):
                pid = str(n.get("annotation_uid") or key)
                passes.setdefault(pid, []).append((n.get("timestamp_sec"), n.get("narration_text")))
        out[uid] = passes
    return out


def _ceil_frame(t: float, fps: float) -> int:
    return math.ceil(t * fps - 1e-6)


def build_pass(items: list[tuple[int, str]], num_frames: int, instruction: str,
               max_frames: int = MAX_FRAMES) -> tuple[list[dict], int] | None:
    """Grid-snapped (frame, text) items (sorted) → (conversation, start_frame) per §5 steps 4–7."""
    if not items:
        return None
    start = items[0][0]
    last = start - 1
    conv: list[dict] = []
    prev_text = None
    for f, text in items:
        if last >= num_frames - 1:
            break
        if text == prev_text:
            continue
        if f == last:
            conv[-1]["content"] = text
        else:
            conv.append({"role": "stream", "num_frames": f - last, "learn": True})
            conv.append({"role": "assistant", "content": text, "learn": True})
            last = f
        prev_text = text
    # instruction: the first stream (always 1 frame) is unlearned, then the user asks
    conv[0]["learn"] = False
    conv.insert(1, {"role": "user", "content": instruction})
    # cap: cut before the first stream that would push the total past max_frames
    total, cut = 0, len(conv)
    for i, m in enumerate(conv):
        if m["role"] == "stream":
            if total + m["num_frames"] > max_frames:
                cut = i
                break
            total += m["num_frames"]
    conv = conv[:cut]
    if not any(m["role"] == "assistant" for m in conv):
        return None
    return conv, start


def _pick(options, key: str) -> str:
    return options[int(hashlib.sha1(key.encode()).hexdigest(), 16) % len(options)]


def build_narration_dialogues(data: dict, num_frames: dict, fps: float = 2.0, variant: str = "cleaned",
                              refined: dict | None = None, uids=None,
                              max_frames: int = MAX_FRAMES) -> tuple[list[StreamDialogue], BuildReport]:
    """Build narration stream dialogues.

    data: parsed narration JSON (either schema); num_frames: {uid: T} of the feature files (videos absent
    are counted as "missing features"); uids: optional split filter. Raises DatasetError when nothing is usable.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if variant == "refined" and not refined:
        raise ValueError("variant 'refined' needs the {cleaned text: refined text} map")
    report = BuildReport()
    out: list[StreamDialogue] = []
    videos = read_narrations(data)
    if not videos:
        raise DatasetError("no videos in the narration file (expected all_narrations_redacted.json or narration.json)")
    for uid, passes in videos.items():
        if uids is not None and uid not in uids:
            continue
        report.videos += 1
        if uid not in num_frames:
            report.skipped["video: missing features"] += 1
            continue
        n_frames = int(num_frames[uid])
        if not any(passes.values()):
            report.skipped["video: empty annotations"] += 1
            continue
        for pid, raw in passes.items():
            items = []
            for t, text in raw:
                if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
                    report.skipped["narration: bad timestamp"] += 1
                    continue
                cleaned = clean_text(text) if isinstance(text, str) else None
                if cleaned is None:
                    report.skipped["narration: empty or < 2 words"] += 1
                    continue
                if variant == "rule-based":
                    cleaned = rule_based_you(cleaned)
                elif variant == "refined":
                    if cleaned not in refined:
                        report.skipped["narration: not in refined map"] += 1
                        continue
                    cleaned = refined[cleaned]
                if t * fps > n_frames - 1 + 1e-6:
                    report.skipped["narration: after end of features (clipped)"] += 1
                items.append((min(max(_ceil_frame(float(t), fps), 0), n_frames - 1), cleaned))
            items.sort(key=lambda x: x[0])
            instruction = TAG_INSTRUCTION if variant == "cleaned" else _pick(YOU_INSTRUCTIONS, f"{uid}/{pid}")
            built = build_pass(items, n_frames, instruction, max_frames)
            if built is None:
                report.skipped["pass: no usable narration"] += 1
                continue
            conv, start = built
            out.append(StreamDialogue(id=f"{uid}/{pid}", video_uid=uid, conversation=validate_conversation(conv),
                                      start_frame=start, fps=fps, text_variant=variant))
            report.samples += 1
    if not out:
        raise DatasetError(f"no narration stream could be built: {report.summary()}")
    return out, report


def split_video_uids(benchmark_files: dict[str, dict]) -> set[str]:
    """Union of video uids over benchmark annotation files ({name: parsed json}) for the split rule of docs/design/ego4d-data.md §5 (step 1)."""
    uids: set[str] = set()
    for data in benchmark_files.values():
        for key in ("videos", "clips", "annotations"):
            for row in data.get(key) or []:
                if isinstance(row, dict) and (row.get("video_uid") or row.get("video_id")):
                    uids.add(row.get("video_uid") or row.get("video_id"))
    return uids


def load_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise DatasetError(f"annotation file not found: {path}") from None
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path} is not valid JSON: {e}") from None
