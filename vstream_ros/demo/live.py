"""The live view of `vstream demo`: ground-truth narrations and model replies in time order, each model reply
annotated with the truth it is **scored against** (the one-to-one matching of replay/metrics.py), not merely the
nearest one.

The matching is optimal over a whole cluster of events (events closer than the tolerance chain into one cluster;
replay/metrics.py matches each cluster on its own), so a reply's partner is final once its cluster is closed:
when the stream clock has moved more than the tolerance past the cluster's last event, no later event can join
it. Lines are therefore held until their cluster closes (about a second of stream time with the demo's ±1 s) and
then printed in time order; the notes equal the pairs of the final metric table by construction.

Imports: stdlib and vstream_ros.replay.metrics (numpy). Never torch or ROS.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from vstream_ros.replay.metrics import Utterance, match_times


class LivePrinter:
    """`frame(t)` before each frame at stream time t, `reply(t, text)` for each proactive reply; `frame(inf)`
    at the end flushes everything. `out` receives one finished line at a time."""

    def __init__(self, refs: Sequence[Utterance], enabled: bool, tolerance: float,
                 out: Callable[[str], None] | None = None):
        self.refs = sorted(refs, key=lambda r: r.t)
        self.enabled, self.tol = enabled, float(tolerance)
        self.out = out or (lambda s: print(s, flush=True))
        self.next_ref = 0
        self.pending: list[tuple[float, int, str]] = []      # (t, 0 = truth / 1 = model, text) of the open cluster
        self.last: float | None = None
        self.pairs: list[tuple[float, float]] = []          # (truth t, reply t) of every match printed

    def frame(self, t: float) -> None:
        while self.next_ref < len(self.refs) and self.refs[self.next_ref].t <= t:
            r = self.refs[self.next_ref]
            self._add(r.t, 0, r.text)
            self.next_ref += 1
        if self.last is not None and t - self.last > self.tol:
            self._flush()

    def reply(self, t: float, text: str) -> None:
        self._add(float(t), 1, text)

    def _add(self, t: float, kind: int, text: str) -> None:
        if self.last is not None and t - self.last > self.tol:
            self._flush()
        self.pending.append((t, kind, text))
        self.last = t if self.last is None else max(self.last, t)

    def _flush(self) -> None:
        rows = sorted(self.pending, key=lambda r: (r[0], r[1]))
        truth = [r for r in rows if r[1] == 0]
        model = [r for r in rows if r[1] == 1]
        partner = {j: truth[i][0] for i, j in match_times([r[0] for r in truth], [r[0] for r in model], self.tol)}
        k = 0
        for t, kind, text in rows:
            if kind == 0:
                self._line(f"{t:7.2f} s  truth  │ {text}")
                continue
            if k in partner:
                ref_t = partner[k]
                self.pairs.append((ref_t, t))
                note = f"   (scored vs truth at {ref_t:.2f} s, Δt {t - ref_t:+.2f} s)"
            else:
                note = f"   (unmatched: no free truth within ±{self.tol:g} s)"
            self._line(f"{t:7.2f} s  model  │ {text}{note}")
            k += 1
        self.pending, self.last = [], None

    def _line(self, s: str) -> None:
        if self.enabled:
            self.out(s)
