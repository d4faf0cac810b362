"""Step tracker: matches proactive utterances to a configured step list and tracks status/progress (GoalStep style).

`goal_prompt(goal, steps)` is the user turn given to the model in assist mode. `StepTracker.update(text, uid)` returns
a `GuidanceUpdate` (fields of vstream_msgs/StepGuidance minus the header). Matching is lexical (content-word overlap
with light stemming), monotone by default: matching a later step completes the ones before it; matching an earlier
step does not move back. Mistake/done cue words set STATUS_MISTAKE / STATUS_DONE. Without a step list every
utterance is an instruction of an open-ended task (step_count 0).

Imports: stdlib only. Must not import rclpy.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

PENDING, IN_PROGRESS, DONE, MISTAKE = 0, 1, 2, 3
_STOP = set("a an the and or but to of in on at for with from by into onto your you it its this that these those "
            "is are be now then next let lets let's please just can will should must do we i me my up down out "
            "off".split())
_MISTAKE = ("mistake", "wrong", "instead", "careful", "don't", "do not", "not yet", "oops", "stop")
_DONE = ("done", "finished", "complete", "completed", "well done", "good job", "all set")


def _stem(w: str) -> str:
    for suf in ("ing", "ed", "es", "s"):
        if len(w) > len(suf) + 2 and w.endswith(suf):
            return w[: -len(suf)]
    return w


def words(text: str) -> set[str]:
    return {_stem(w) for w in re.findall(r"[a-z0-9']+", text.lower()) if w not in _STOP}


def _has(text: str, cues) -> bool:
    low = " " + re.sub(r"[^a-z' ]+", " ", text.lower()) + " "
    return any(f" {c} " in low for c in cues)


def goal_prompt(goal: str, steps: list[str] | tuple[str, ...] = ()) -> str:
    """User turn for assist mode: the goal and, when known, the numbered steps."""
    goal = goal.strip()
    if not goal:
        raise ValueError("assist mode needs a task goal (parameter task.goal)")
    text = f"I want to {goal[0].lower() + goal[1:]}" if not goal.lower().startswith(("i ", "help")) else goal
    text = text.rstrip(".") + "."
    if steps:
        text += " The steps are: " + " ".join(f"{i + 1}. {s.strip().rstrip('.')}." for i, s in enumerate(steps))
    return text + " Guide me step by step as I work, and tell me when I make a mistake."


@dataclass(frozen=True)
class GuidanceUpdate:
    task_id: str
    task_name: str
    step_index: int
    step_count: int
    instruction: str
    status: int
    feedback: str
    progress: float
    utterance_id: str


class StepTracker:
    """Tracks the current step of one task. `min_score`: Jaccard-like overlap needed to match a step."""

    def __init__(self, task_name: str = "", steps=(), task_id: str = "", min_score: float = 0.2):
        self.task_name = task_name
        self.task_id = task_id or re.sub(r"[^a-z0-9]+", "_", task_name.lower()).strip("_")
        self.steps = tuple(s.strip() for s in steps if s and s.strip())
        self.min_score = min_score
        self._step_words = [words(s) for s in self.steps]
        self.reset()

    def reset(self) -> None:
        self.index = 0
        self.done = [False] * len(self.steps)
        self.status = PENDING

    @property
    def progress(self) -> float:
        return sum(self.done) / len(self.steps) if self.steps else 0.0

    def match(self, text: str) -> tuple[int, float]:
        """(best step index, score) or (-1, 0.0) when no step reaches min_score."""
        w = words(text)
        best, score = -1, 0.0
        for i, sw in enumerate(self._step_words):
            if not sw or not w:
                continue
            s = len(w & sw) / min(len(sw), len(w) + 1)
            closer = best >= 0 and abs(i - self.index) < abs(best - self.index)
            if s > score + 1e-9 or (abs(s - score) <= 1e-9 and closer):
                best, score = i, s
        return (best, score) if score >= self.min_score else (-1, 0.0)

    def update(self, text: str, utterance_id: str = "") -> GuidanceUpdate:
        text = text.strip()
        if not self.steps:
            self.status = MISTAKE if _has(text, _MISTAKE) else IN_PROGRESS
            return self._out(text, "", utterance_id)
        j, _ = self.match(text)
        feedback = ""
        if j > self.index:
            for k in range(self.index, j):
                self.done[k] = True
            self.index, self.status = j, IN_PROGRESS
        elif 0 <= j < self.index:
            feedback = f"refers to earlier step {j + 1}: {self.steps[j]}"
        elif j == self.index:
            self.status = IN_PROGRESS
        if _has(text, _MISTAKE):
            self.status, feedback = MISTAKE, text
        elif _has(text, _DONE) and (j in (-1, self.index)):
            self.done[self.index] = True
            if self.index + 1 < len(self.steps):
                self.index, self.status = self.index + 1, PENDING
            else:
                self.status = DONE
        elif j == -1 and not feedback:
            feedback = text
        return self._out(self.steps[self.index], feedback, utterance_id, said=text)

    def current(self, utterance_id: str = "") -> GuidanceUpdate:
        """The current state (e.g. published once at activation for late joiners)."""
        return self._out(self.steps[self.index] if self.steps else "", "", utterance_id)

    def _out(self, instruction: str, feedback: str, uid: str, said: str = "") -> GuidanceUpdate:
        if self.steps and said and not feedback and said != instruction:
            feedback = said
        return GuidanceUpdate(self.task_id, self.task_name, self.index, len(self.steps), instruction, self.status,
                              feedback, self.progress, uid)
