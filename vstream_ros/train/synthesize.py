"""Turn offline annotations into streaming dialogue text, with any transformers causal LM or by rules.

Two tasks:
  * goalstep: GoalStep units (ego4d_goalstep.goalstep_units) → timed user/assistant conversations
    [{id, video_uid, text_variant, conversation: [{role, content, time}]}] — the input of the
    `ego4d_livechat` data source. LLM: the unit's timed steps + a timestamp skeleton with 3 user questions
    at seeded random times; the model writes `{t}s User: …` / `{t}s Assistant: …` lines, which are parsed.
    Rule-based: the assistant announces each step at its start, answers one "what next" question and
    congratulates at the end (an APPROXIMATION of LLM dialogues, labelled "rule-based").
  * refine-narration: cleaned narrations (`C picks up a knife.`) → second person (`You pick up a knife.`)
    as a {cleaned: refined} map for the `refined` narration variant. LLM: few-shot `[x] -> [y]` prompt, the
    answer is read up to the first `]`; unparsable answers fall back to the rule (counted). Rule-based:
    ego4d_narration.rule_based_you (approximation).
Prompts are our own wording. Work is appended to `<out>.partial.jsonl` (one record per finished key), so an
interrupted run resumes where it stopped; the final file is written atomically at the end.

Imports: stdlib, train.ego4d_*; torch/transformers only inside the LLM generator. Never ROS.
"""
from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from .ego4d_goalstep import Unit

GenerateFn = Callable[[list], list]          # prompts (chat messages lists) → completions

QUESTIONS = {
    "past": ("What have I done so far?", "Can you recap my progress?", "Which steps are already finished?"),
    "present": ("What am I doing right now?", "Am I doing this step correctly?", "What is this step for?"),
    "next": ("What should I do next?", "What comes after this?", "Which step is next?"),
}
FILLER = "..."


# ------------------------------------------------------------------------------------------------ goalstep

def unit_key(unit: Unit, index: int) -> str:
    return f"{unit.video_uid}/{unit.kind}/{unit.start:.2f}/{index}"


def _grid(t: float, fps: float = 2.0) -> float:
    import math
    return math.ceil(t * fps - 1e-6) / fps


def skeleton(unit: Unit, rng: random.Random, n_users: int = 3) -> tuple[list[float], list[tuple[float, str]]]:
    """Sorted grid timestamps of the unit and `n_users` (time, question) pairs at seeded random times."""
    stamps = sorted({_grid(t) for s, e, _ in unit.items for t in (s, e)})
    lo, hi = stamps[0], stamps[-1]
    users = sorted((round(rng.uniform(lo, hi), 1), rng.choice(QUESTIONS[rng.choice(sorted(QUESTIONS))]))
                   for _ in range(n_users))
    return stamps, users


def goalstep_prompt(unit: Unit, rng: random.Random) -> list[dict]:
    stamps, users = skeleton(unit, rng)
    lines = [f"{s:.2f}s-{e:.2f}s: {text}" for s, e, text in unit.items]
    events = sorted([(t, "User", q) for t, q in users] + [(t, "Assistant", FILLER) for t in stamps])
    system = ("You write realistic dialogues between a person doing a task and a helpful assistant that watches "
              "through the person's camera. The assistant speaks briefly and only when useful: when a step "
              "starts or ends, or when asked. It never mentions clock times or seconds.")
    user = (f"Task: {unit.title or 'the activity below'}\nTimed steps:\n" + "\n".join(lines) +
            "\n\nComplete this dialogue. Keep every line's time and role, replace each '...' with the assistant's "
            "words and answer every question. Output only the lines.\n" +
            "\n".join(f"{t:.1f}s {role}: {text}" for t, role, text in events))
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


_LINE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*s\s+(User|Assistant)\s*:\s*(.+?)\s*$")


def parse_dialogue(text: str) -> list[dict]:
    """`{t}s Role: content` lines → [{role, content, time}] (other lines ignored, fillers dropped)."""
    out = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if m and m.group(3).strip(" .") != "":
            out.append({"role": m.group(2).lower(), "content": m.group(3), "time": float(m.group(1))})
    return out


def goalstep_value(answer: str, variant: str) -> dict | None:
    """A usable LLM dialogue (starts with a user, has a reply) as a work-log value, else None."""
    conv = parse_dialogue(answer)
    if not conv or conv[0]["role"] != "user" or not any(m["role"] == "assistant" for m in conv):
        return None
    return {"text_variant": variant, "conversation": conv}


def rule_based_dialogue(unit: Unit) -> list[dict]:
    """Deterministic conversation over a unit (approximation, no LLM)."""
    items = unit.items
    t0 = max(round(items[0][0], 1), 0.1)
    what = unit.title[:1].lower() + unit.title[1:] if unit.title else "this task"
    conv = [{"role": "user", "content": f"Can you guide me through {what}?", "time": t0},
            {"role": "assistant", "content": f"Sure. First, {_lower(items[0][2])}.", "time": t0}]
    mid = len(items) // 2
    for i, (s, _, text) in enumerate(items[1:], 1):
        t = max(round(s, 1), conv[-1]["time"])
        if i == mid and t - 1.0 > conv[-1]["time"]:
            q = round(t - 1.0, 1)
            conv += [{"role": "user", "content": "What should I do next?", "time": q},
                     {"role": "assistant", "content": f"Next, {_lower(text)}.", "time": q}]
        conv.append({"role": "assistant", "content": f"Now {_lower(text)}.", "time": t})
    end = round(max(e for _, e, _ in items), 1)
    if end > conv[-1]["time"]:
        conv.append({"role": "assistant", "content": f"Well done, you have finished {what}.", "time": end})
    return conv


def _lower(text: str) -> str:
    text = text.strip().rstrip(".")
    return text[:1].lower() + text[1:]


# ------------------------------------------------------------------------------------------------ narration

FEW_SHOT = (("C looks around.", "You look around."), ("C picks a cup from the table.", "You pick a cup from the table."),
            ("A man X watches the phone.", "A man watches the phone."), ("Man A approaches C.", "A man approaches you."),
            ("C talks with woman Y.", "You talk with a woman."))


def refine_prompt(text: str) -> list[dict]:
    system = ("Rewrite egocentric video narrations in the second person, addressed to the camera wearer 'C'. "
              "Replace C with 'you' and drop letter tags of other people. Keep the meaning and keep it short.")
    shots = "\n".join(f"[{a}] -> [{b}]" for a, b in FEW_SHOT)
    return [{"role": "system", "content": system}, {"role": "user", "content": f"{shots}\n[{text}] -> ["}]


def parse_refined(answer: str) -> str | None:
    head = answer.split("]", 1)[0].strip()
    if "]" not in answer or not head or len(head.split()) < 2:
        return None
    return head


# ------------------------------------------------------------------------------------------------ running

class WorkLog:
    """Append-only JSONL of finished records keyed by `key`: the resume point of an interrupted run."""

    def __init__(self, out: Path):
        self.path = Path(str(out) + ".partial.jsonl")
        self.done: dict[str, object] = {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                    self.done[rec["key"]] = rec["value"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue                      # a torn last line from a kill: redo that record

    def add(self, records: Iterable[tuple[str, object]]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            for k, v in records:
                f.write(json.dumps({"key": k, "value": v}, ensure_ascii=False) + "\n")
                self.done[k] = v
            f.flush()
            os.fsync(f.fileno())

    def finish(self, out: Path, obj) -> None:
        tmp = Path(str(out) + ".tmp")
        tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, out)
        self.path.unlink(missing_ok=True)


def run_jobs(jobs: list[tuple[str, list]], generate: GenerateFn | None, parse, fallback, log: WorkLog,
             batch: int, progress=None) -> dict:
    """Run (key, prompt) jobs not yet in `log` in batches; parse → value or fallback (counted)."""
    counts = {"generated": 0, "fallback": 0, "resumed": sum(1 for k, _ in jobs if k in log.done)}
    todo = [(k, p) for k, p in jobs if k not in log.done]
    for i in range(0, len(todo), batch):
        chunk = todo[i:i + batch]
        answers = generate([p for _, p in chunk]) if generate else [None] * len(chunk)
        if len(answers) != len(chunk):
            raise ValueError(f"the generator returned {len(answers)} texts for {len(chunk)} prompts")
        recs = []
        for (k, _), ans in zip(chunk, answers):
            value = parse(ans) if ans is not None else None
            if value is None:
                value = fallback(k)
                counts["fallback"] += 1
            else:
                counts["generated"] += 1
            recs.append((k, value))
        log.add(recs)
        if progress:
            progress(len(chunk))
    return counts


def hf_generator(model_id: str, device: str = "auto", max_new_tokens: int = 512, dtype: str = "auto") -> GenerateFn:
    """Batched greedy generation with any transformers causal LM (chat template when it has one)."""
    import torch  # noqa: PLC0415
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415

    from vstream_ros.engine.config import resolve_device, resolve_dtype  # noqa: PLC0415
    dev = resolve_device(device)
    tok = AutoTokenizer.from_pretrained(model_id)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token or tok.convert_ids_to_tokens(0)
    model = AutoModelForCausalLM.from_pretrained(model_id, dtype=resolve_dtype(dtype, dev)).to(dev).eval()

    def render(messages: list) -> str:
        if getattr(tok, "chat_template", None):
            # the last user turn ends with an open `[` / skeleton: the model continues from there
            return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return "\n\n".join(m["content"] for m in messages) + "\n"

    @torch.no_grad()
    def generate(prompts: list) -> list:
        enc = tok([render(p) for p in prompts], return_tensors="pt", padding=True, add_special_tokens=False).to(dev)
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        return tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return generate
