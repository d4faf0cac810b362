"""Which stretch of a stream's past a question is about, and what of it to splice before the question.

The moment: a time the question names ("at 12:31", "at 1:02:03"), else the narration-log line the question is about
(`best_line`: the most recent line whose object — the words after its action verb — holds the question's rarest
object word, with the same verb (pick / put, with the log's synonyms) when there is one), else the last seconds
before now. Around the moment, the frames of
`window_s` (thinned to `frames_per_s`) and the log lines. What is spliced depends on the method:

    log          log lines and frames of the window (the default)
    log-text     the log lines only (what a caption memory keeps)
    log-frames   the frames only (the log only chooses where to look)

and two baselines that give the same answering path only what a bounded cache holds, no log:
    cache        the frames the stream's bounded cache holds now (`cached` stamps), nearest the time the question
                 names, else the latest
    recent       the last `RecallConfig.recent_frames` frames (a window; 4 = the "last 4 frames" baseline)

`Recalled.evidence` = the capture stamps of the frames (and lines) spliced: what an answer drew on.

Imports: stdlib, torch, engine.config, recall.store. Never ROS.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch

from ..config import RECALL_METHODS as METHODS
from .store import LogLine, RecallStore

_CLOCK = re.compile(r"\b(?:(\d{1,2}):)?(\d{1,2}):(\d{2})\b")
_WORD = re.compile(r"[a-z]+")
# action verbs of egocentric narration → one lemma (Ego4D style: "C picks up …", "C places … on …")
_VERBS = {"pick": "pick", "picks": "pick", "picked": "pick", "take": "pick", "takes": "pick", "took": "pick",
          "grab": "pick", "grabs": "pick", "put": "put", "puts": "put", "place": "put", "places": "put",
          "placed": "put", "move": "put", "moves": "put", "moved": "put", "stack": "put", "stacks": "put",
          "stacked": "put", "drop": "put", "drops": "put", "dropped": "put"}
_STOP = {"the", "a", "an", "i", "did", "do", "does", "what", "where", "when", "last", "at", "up", "you", "c", "my",
         "it", "is", "was", "of", "from", "out", "to", "on", "in", "into", "onto", "time", "me"}
_BOUNDARY = {"on", "in", "into", "onto", "to", "from", "out", "further", "closer", "at"}


@dataclass
class Recalled:
    """What a question brings back: `items` in time order, (t, text) for a log line or (t, n) for a run of n
    frames, t counted from the store's origin (what the model reads), `vision` [F, n_tokens, D] of those frames in
    order (None without frames), `evidence` their capture stamps (absolute, as the frames came)."""

    items: list = field(default_factory=list)
    vision: torch.Tensor | None = None
    evidence: tuple[float, ...] = ()
    moment: float | None = None          # the moment the window is centred on
    how: str = ""                        # "clock" | "log" | "recent"


def parse_clock(text: str) -> float | None:
    """The first time written in `text` (`M:SS` or `H:MM:SS`) in seconds, else None."""
    m = _CLOCK.search(text)
    if m is None:
        return None
    h, mm, ss = int(m.group(1) or 0), int(m.group(2)), int(m.group(3))
    return None if ss > 59 or (m.group(1) and mm > 59) else float(h * 3600 + mm * 60 + ss)


def narration_parts(text: str) -> tuple[str | None, list[str], set[str]]:
    """(verb lemma, object words, other content words) of a question or a narration: "C places the red block on the
    blue block." → ("put", ["red", "block"], {"blue", "block"})."""
    words = _WORD.findall(text.lower())
    verb, obj, rest, i = None, [], set(), 0
    while i < len(words):
        w = words[i]
        if verb is None and w in _VERBS:
            verb = _VERBS[w]
            j = i + 1
            while j < len(words) and (words[j] in ("up", "the", "a", "an") or not obj and words[j] in _STOP):
                j += 1
            while j < len(words) and words[j] not in _BOUNDARY and len(obj) < 3:
                obj.append(words[j])
                j += 1
            i = j
            continue
        if w not in _STOP:
            rest.add(w)
        i += 1
    return verb, obj, rest


def score(question: str, line: str) -> float:
    """How well a log line matches a question: same verb 3, each object word 2, other shared words 0.25."""
    qv, qo, qr = narration_parts(question)
    lv, lo, lr = narration_parts(line)
    s = 2.0 * len(set(qo) & set(lo)) + 0.25 * len((qr | set(qo)) & (lr - set(lo)))
    if qv is not None and qv == lv:
        s += 3.0
    return s


def best_line(question: str, log: list[LogLine], before: float) -> LogLine | None:
    """The narration line (at or before `before`) a question is about.

    The object is named by its rarest word in the log (a colour, say, where "block" is everywhere): the most recent
    line whose object (the words after its verb) holds that word — with the question's verb when such a line
    exists; None when no line names the object. A question without an object (“What did I just pick up?”): the
    most recent among the best `score`s (> 0)."""
    lines = [ln for ln in log if ln.kind == "narration" and ln.t <= before]
    qv, qo, _ = narration_parts(question)
    if qo and lines:
        parsed = [(ln, narration_parts(ln.text)) for ln in lines]
        df = {w: sum(1 for _, (_, lo, _) in parsed if w in lo) for w in qo}
        key = min((w for w in qo if df[w]), key=lambda w: df[w], default=None)
        if key is not None:
            hits = [(ln, lv) for ln, (lv, lo, _) in parsed if key in lo]
            same_verb = [ln for ln, lv in hits if qv is not None and lv == qv]
            return (same_verb or [ln for ln, _ in hits])[-1]
    if qo:
        return None
    best, best_s = None, 0.0
    for ln in lines:
        sc = score(question, ln.text)
        if sc >= best_s and sc > 0:
            best, best_s = ln, sc
    return best


def retrieve(question: str, store: RecallStore, now: float, cfg=None, frame_cost: int = 11,
             cached: list[float] | None = None) -> Recalled:
    """What to splice before `question` asked at capture time `now` (see the module docstring). `cfg`: a
    RecallConfig for this question (None = the store's); `frame_cost`: cache positions one recalled frame takes
    (its `<v>`s and separator), to keep within `max_tokens`; `cached`: the stamps of the frames the bounded
    cache holds (method `cache`)."""
    cfg = cfg or store.cfg
    method = cfg.method
    if method in ("cache", "recent"):
        return _baseline(question, store, now, cfg, frame_cost, cached)
    before, after = cfg.window_s
    origin = store.origin or 0.0
    t = parse_clock(question)
    t = None if t is None else t + origin
    how = "clock"
    if t is None or t > now:
        line = best_line(question, store.log, now)
        t, how = (line.t, "log") if line is not None else (now, "recent")
    t0, t1 = max(0.0, t - before), min(now, t + (after if how != "recent" else 0.0))
    if how == "recent":
        t0 = max(0.0, now - before - after)
    lines = store.lines_between(t0, t1) if method != "log-frames" else []
    frames = store.frames_between(t0, t1, cfg.frames_per_s) if method != "log-text" else []
    budget = max(0, cfg.max_tokens - 16 * len(lines) - 32)
    while frames and len(frames) * frame_cost > budget:        # keep the frames nearest the moment
        far = max(range(len(frames)), key=lambda i: abs(frames[i][0] - t))
        frames.pop(far)
    return _assemble(lines, frames, t, how, origin)


def _baseline(question, store, now, cfg, frame_cost, cached) -> Recalled:
    every = store.frames_between(0.0, now, 1e9)                 # every frame kept, in time order
    n = max(1, (cfg.max_tokens - 32) // frame_cost)
    origin = store.origin or 0.0
    if cfg.method == "recent":
        return _assemble([], every[-min(cfg.recent_frames, n):], now, "recent", origin)
    if cached is None:
        raise ValueError("recall method 'cache' needs a bounded memory (its cached frames): use policy keyframes, "
                         "window or recent")
    keep = {round(t, 6) for t in cached}
    frames = [f for f in every if round(f[0], 6) in keep]
    t = parse_clock(question)
    t = None if t is None else t + origin
    moment = t if t is not None and t <= now else now
    frames = sorted(sorted(frames, key=lambda f: abs(f[0] - moment))[:n], key=lambda f: f[0])
    return _assemble([], frames, moment, "clock" if moment != now else "recent", origin)


def _assemble(lines: list[LogLine], frames: list, moment: float, how: str, origin: float = 0.0) -> Recalled:
    """Merge lines and frame runs in time order: consecutive frames (no line between) form one run."""
    events = [(ln.t, 0, ln.text) for ln in lines] + [(ft, 1, tok) for ft, tok in frames]
    events.sort(key=lambda e: (e[0], e[1]))
    items, vision, run = [], [], None
    for et, kind, what in events:
        if kind == 0:
            items.append((et, what))
            run = None
            continue
        if run is None:
            items.append([et, 0])
            run = items[-1]
        run[1] += 1
        vision.append(what)
    items = [(it[0] - origin, it[1]) for it in items]
    stamps = sorted({round(e[0], 6) for e in events})
    return Recalled(items, torch.stack(vision) if vision else None, tuple(stamps), moment, how)
