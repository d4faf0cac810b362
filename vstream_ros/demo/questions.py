"""Questions about a demo stream's past, made from its reference narrations, with the truth each answer is checked
against — what `vstream demo` asks at the end of a stream when the model answers over recalled memory.

From the references before the question time: "What did I pick up at M:SS?" about the earliest pick (the deepest
in the stream), "Where did I put the <object>?" about the object placed longest ago and not moved since, and "When
did I last pick up the <object>?" about the object picked longest ago and not picked since. Scoring: the object
(colour and shape) named; the placement phrase said ("on the blue block", "to the left" …); a time within 3 s.

Imports: stdlib, engine.protocol / engine.recall.retrieve (parsing; the recall package loads torch). Never ROS.
"""
from __future__ import annotations

from dataclasses import dataclass

from vstream_ros.engine.protocol import clock_text
from vstream_ros.engine.recall.retrieve import narration_parts, parse_clock

TIME_TOLERANCE_S = 3.0


@dataclass(frozen=True)
class DemoQuestion:
    form: str            # pick_at | where | last_pick
    text: str
    truth: str           # what a right answer says (object, placement or M:SS)
    truth_t: float       # capture time of the event asked about

    def right(self, answer: str) -> bool:
        a = " ".join(answer.lower().split())
        if self.form == "last_pick":
            t = parse_clock(a)
            return t is not None and abs(t - self.truth_t) <= TIME_TOLERANCE_S
        return self.truth in a


def _placement(text: str, obj: list[str]) -> str:
    """The placement phrase of a place narration: the words after its object ("on the blue block", "closer")."""
    words = text.lower().rstrip(".").split()
    for i in range(len(words) - len(obj) + 1):
        if words[i:i + len(obj)] == obj:
            return " ".join(words[i + len(obj):])
    return ""


def questions(references, now: float) -> list[DemoQuestion]:
    """Up to one question of each form about the references (objects with `.t`, `.text`) before `now` − 2 s."""
    past = [(r.t, r.text, *narration_parts(r.text)) for r in references if r.t <= now - 2.0]
    out: list[DemoQuestion] = []
    picks = [(t, obj) for t, _, verb, obj, _ in past if verb == "pick" and obj]
    if picks:
        t, obj = picks[0]
        out.append(DemoQuestion("pick_at", f"What did I pick up at {clock_text(t)}?", " ".join(obj), t))
    last_place, last_pick = {}, {}
    for t, text, verb, obj, _ in past:
        if obj:
            (last_pick if verb == "pick" else last_place)[" ".join(obj)] = (t, text, obj)
    if last_place:
        name, (t, text, obj) = min(last_place.items(), key=lambda kv: kv[1][0])
        phrase = _placement(text, obj)
        if phrase:
            out.append(DemoQuestion("where", f"Where did I put the {name}?", phrase, t))
    if last_pick:
        name, (t, _, _) = min(last_pick.items(), key=lambda kv: kv[1][0])
        out.append(DemoQuestion("last_pick", f"When did I last pick up the {name}?", clock_text(t), t))
    return out
