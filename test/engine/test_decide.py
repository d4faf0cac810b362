"""The silence decision and the greedy token: same answers as the plain torch formulation (softmax over the whole
vocabulary, p[`,`] zeroed below θ, first maximum), ties and a `,` that wins included."""
import torch

from vstream_ros.engine.decision import argmax, decide
from vstream_ros.engine.template import SILENT_ID


def _plain(logits, threshold):
    p = torch.softmax(logits.float(), dim=-1)
    p_silent = float(p[SILENT_ID])
    if p_silent < threshold:
        p = p.clone()
        p[SILENT_ID] = 0.0
    return p_silent, int(p.argmax()) != SILENT_ID


def test_decide_and_argmax_equal_the_plain_formulation():
    g = torch.Generator().manual_seed(3)
    cases = [torch.randn(1000, generator=g) * s for s in (0.1, 1.0, 8.0) for _ in range(20)]
    silent_wins = torch.zeros(1000)
    silent_wins[SILENT_ID] = 5.0
    tie = torch.zeros(1000)
    tie[[7, SILENT_ID, 900]] = 3.0                          # first maximum before `,`
    cases += [silent_wins, tie, torch.zeros(1000)]
    seen = set()
    for logits in cases:
        for theta in (0.0, 0.01, 0.5, 0.725, 1.0):
            got = decide(logits, theta)
            assert got == _plain(logits, theta)
            seen.add(got[1])
        assert argmax(logits) == int(logits.argmax())
        assert argmax(logits[::2]) == int(logits[::2].argmax())   # a strided view
    assert seen == {True, False}
    assert argmax(tie) == 7
