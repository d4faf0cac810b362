"""Ego4D GoalStep → "livechat" stream dialogues (docs/design/ego4d-data.md §6–§7).

Three steps, each usable alone:
  1. `goalstep_units(data)`: goalstep_{train,val}.json → units (one per goal with its steps, one per step with
     its substeps), the input of dialogue synthesis (synthesize.py: LLM or rule-based);
  2. `filter_livechat(convs)`: the upstream filter (§7.2);
  3. `build_livechat_dialogues(convs, num_frames)`: timed {role, content, time} conversations → stream
     dialogues (§7.3) in integer frame indices: users floored to the fps grid, assistants ceiled, a learned
     stream inserted whenever time advances, `w ∈ [0, min(20, f_user)]` waiting frames before the first user
     (first w−1 learn `,`), drawn from a per-sample seeded RNG so builds are reproducible.
A user whose floored frame is before the previous message's frame (possible after a ceiled assistant) is
placed at that frame (no going back in the stream); a raw-time regression stops the conversation.

Imports: stdlib, train.dialogue, train.ego4d_narration (report types). Never torch, never ROS.
"""
from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

from .dialogue import StreamDialogue, validate_conversation
from .ego4d_narration import MAX_FRAMES, BuildReport, DatasetError


@dataclass(frozen=True)
class Unit:
    """A goal (items = its steps) or a step with substeps (items = the substeps); times in seconds."""

    video_uid: str
    kind: str                        # "goal" | "step"
    title: str                       # goal_description / step_description
    items: tuple                     # ((start, end, text), …) sorted by start

    @property
    def start(self) -> float:
        return self.items[0][0]

    @property
    def end(self) -> float:
        return max(e for _, e, _ in self.items)


def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0


def _items(segments, report: BuildReport) -> list:
    out = []
    for s in segments or []:
        if not isinstance(s, dict):
            report.skipped["segment: not an object"] += 1
            continue
        st, en, text = s.get("start_time"), s.get("end_time"), (s.get("step_description") or "").strip()
        if not (_num(st) and _num(en) and en >= st):
            report.skipped["segment: bad timestamp"] += 1
            continue
        if not text:
            report.skipped["segment: empty description"] += 1
            continue
        out.append((float(st), float(en), text))
    return sorted(out, key=lambda x: (x[0], x[1]))


def goalstep_units(data: dict) -> tuple[list[Unit], BuildReport]:
    """Units of a goalstep_{train,val}.json (`videos` list). Raises DatasetError when none is usable."""
    videos = data.get("videos") if isinstance(data, dict) else None
    if not isinstance(videos, list):
        raise DatasetError("not a GoalStep file: expected a top-level 'videos' list (goalstep_train/val.json; "
                           "goalstep_trainval.json has a different, goal-only structure)")
    report, units = BuildReport(), []
    for v in videos:
        uid = v.get("video_uid") if isinstance(v, dict) else None
        if not uid:
            report.skipped["video: no video_uid"] += 1
            continue
        report.videos += 1
        steps = _items(v.get("segments"), report)
        if steps:
            units.append(Unit(uid, "goal", (v.get("goal_description") or "").strip(), tuple(steps)))
        else:
            report.skipped["video: empty annotations"] += 1
        for s in v.get("segments") or []:
            subs = _items(s.get("segments") if isinstance(s, dict) else None, report)
            if subs:
                units.append(Unit(uid, "step", (s.get("step_description") or "").strip(), tuple(subs)))
    report.samples = len(units)
    if not units:
        raise DatasetError(f"no GoalStep unit with timed steps: {report.summary()}")
    return units, report


_SECONDS = re.compile(r"\b\d+s\b")


def filter_livechat(convs: list, min_duration: float = 60.0, max_duration: float = 3600.0,
                    upstream_match: bool = True) -> tuple[list, BuildReport]:
    """Upstream filter (§7.2): keep 60 ≤ last.time − first.time ≤ 3600 s; drop conversations mentioning
    `second` or a `<n>s` time. upstream_match=True reproduces `re.match` (tests the string start only)."""
    report, kept = BuildReport(), []
    for c in convs:
        msgs = c.get("conversation") or []
        times = [m.get("time") for m in msgs]
        if not msgs or not all(_num(t) for t in times):
            report.skipped["conversation: bad timestamp"] += 1
            continue
        duration = times[-1] - times[0]
        if not (min_duration <= duration <= max_duration):
            report.skipped["conversation: duration out of range"] += 1
            continue
        texts = [str(m.get("content", "")) for m in msgs]
        hit = (lambda s: _SECONDS.match(s)) if upstream_match else (lambda s: _SECONDS.search(s))
        if any("second" in s or hit(s) for s in texts):
            report.skipped["conversation: mentions absolute time"] += 1
            continue
        kept.append(dict(c, duration=duration))
    report.samples = len(kept)
    return kept, report


def _conv_to_stream(msgs: list, n_frames: int, fps: float, rng: random.Random, report: BuildReport):
    """One timed conversation → (conversation, start_frame) or None (reason counted)."""
    last_f = n_frames - 1
    first = msgs[0]
    t0 = first.get("time")
    if first.get("role") != "user" or not str(first.get("content", "")).strip():
        report.skipped["conversation: does not start with a user message"] += 1
        return None
    if not _num(t0) or not (0 < t0 <= last_f / fps + 1e-6):
        report.skipped["conversation: bad timestamp"] += 1
        return None
    f_user = math.floor(t0 * fps + 1e-6)
    w = rng.randint(0, min(20, f_user))
    conv: list[dict] = []
    if w:
        conv.append({"role": "stream", "num_frames": w, "learn": w - 1})
    conv.append({"role": "user", "content": first["content"].strip()})
    prev_f, prev_t, prev_role = f_user, t0, "user"
    for m in msgs[1:]:
        role, t, text = m.get("role"), m.get("time"), str(m.get("content", "")).strip()
        if role not in ("user", "assistant") or not text:
            report.skipped["message: bad role or empty content"] += 1
            continue
        if not _num(t) or t < prev_t or t > last_f / fps + 1e-6:
            report.skipped["conversation: cut at time regression or past the features"] += 1
            break
        if role == "user":
            if t == prev_t:
                report.skipped["conversation: cut at same-time user"] += 1
                break
            f = max(math.floor(t * fps + 1e-6), prev_f)
        elif t == prev_t and prev_role == "user":          # reply to a user at the same raw time
            conv.append({"role": "assistant", "content": text, "learn": True})
            prev_role = role
            continue
        elif t == prev_t:                                   # same raw time as the previous reply: overwrite
            conv[-1]["content"] = text
            continue
        else:
            f = min(math.ceil(t * fps - 1e-6), last_f)
            if f == prev_f:
                report.skipped["assistant: same grid frame as previous (dropped)"] += 1
                continue
        if f > prev_f:
            conv.append({"role": "stream", "num_frames": f - prev_f, "learn": True})
        conv.append({"role": role, "content": text, **({"learn": True} if role == "assistant" else {})})
        prev_f, prev_t, prev_role = f, t, role
    start = f_user - w + 1
    return conv, start


def _cap(conv: list, max_frames: int) -> list:
    total = 0
    for i, m in enumerate(conv):
        if m["role"] == "stream":
            if total + m["num_frames"] > max_frames:
                return conv[:i]
            total += m["num_frames"]
    return conv


def build_livechat_dialogues(convs: list, num_frames: dict, fps: float = 2.0, seed: int = 0,
                             max_frames: int = MAX_FRAMES, text_variant: str = "llm",
                             ) -> tuple[list[StreamDialogue], BuildReport]:
    """Timed conversations [{video_uid, conversation: [{role, content, time}]}] → stream dialogues."""
    report, out = BuildReport(), []
    for i, c in enumerate(convs):
        uid = c.get("video_uid") if isinstance(c, dict) else None
        msgs = c.get("conversation") if isinstance(c, dict) else None
        if not uid or not isinstance(msgs, list):
            report.skipped["conversation: no video_uid or conversation"] += 1
            continue
        report.videos += 1
        if not msgs:
            report.skipped["conversation: empty annotations"] += 1
            continue
        if uid not in num_frames:
            report.skipped["conversation: missing features"] += 1
            continue
        sid = str(c.get("id") or f"{uid}#{i}")
        rng = random.Random(f"{seed}/{sid}")
        built = _conv_to_stream(msgs, int(num_frames[uid]), fps, rng, report)
        if built is None:
            continue
        conv, start = built
        conv = _cap(conv, max_frames)
        if not any(m["role"] == "assistant" for m in conv):
            report.skipped["conversation: no assistant reply left"] += 1
            continue
        out.append(StreamDialogue(id=sid, video_uid=uid, conversation=validate_conversation(conv), start_frame=start,
                                  fps=fps, text_variant=str(c.get("text_variant", text_variant))))
        report.samples += 1
    if not out:
        raise DatasetError(f"no livechat stream could be built: {report.summary()}")
    return out, report
