"""Dialogue synthesis: rule-based fallback, LLM path (fake and a real tiny causal LM), batching, resume."""
import argparse
import json

import pytest

from vstream_ros.train import cli_synthesize
from vstream_ros.train.ego4d_goalstep import build_livechat_dialogues

UID = "00000000-aaaa-4bbb-8ccc-000000000002"
GOALSTEP = {"version": "1.0", "split": "train", "videos": [{
    "video_uid": UID, "start_time": 0.021, "end_time": 200.0, "goal_description": "Make a salad", "segments": [
        {"start_time": 2.0, "end_time": 40.0, "step_description": "Wash the lettuce", "segments": [
            {"start_time": 2.0, "end_time": 15.5, "step_description": "rinse lettuce"},
            {"start_time": 16, "end_time": 30, "step_description": "dry lettuce"}]},
        {"start_time": 45.0, "end_time": 110.0, "step_description": "Cut the cucumber", "segments": []},
        {"start_time": 115.0, "end_time": 180.0, "step_description": "Mix everything", "segments": []}]}]}
NARR = {"videos": {UID: {"narrations": [{"time": 1.0, "text": "#C C picks up a knife", "_annotation_uid": "a"},
                                        {"time": 2.0, "text": "#C C cuts the onion", "_annotation_uid": "a"}]}}}


def args_for(tmp_path, task, data, **kw):
    inp = tmp_path / "in.json"
    inp.write_text(json.dumps(data))
    ns = dict(task=task, input=str(inp), out=str(tmp_path / "out.json"), llm=None, rule_based=False, batch=1,
              max_new_tokens=8, conversations_per_unit=1, seed=0, device="cpu", no_progress=True)
    ns.update(kw)
    return argparse.Namespace(**ns)


def test_rule_based_goalstep_feeds_the_livechat_builder(tmp_path, capsys):
    a = args_for(tmp_path, "goalstep", GOALSTEP, rule_based=True)
    assert cli_synthesize.main(a) == 0
    convs = json.loads((tmp_path / "out.json").read_text())
    assert len(convs) == 2 and all(c["text_variant"] == "rule-based" for c in convs)
    goal = convs[0]["conversation"]
    assert goal[0] == {"role": "user", "content": "Can you guide me through make a salad?", "time": 2.0}
    assert [m["content"] for m in goal if m["content"].startswith("Now")] == ["Now cut the cucumber.",
                                                                              "Now mix everything."]
    times = [m["time"] for m in goal]
    assert times == sorted(times)
    dias, rep = build_livechat_dialogues(convs, {UID: 400})
    assert len(dias) == 2 and rep.samples == 2
    assert not (tmp_path / "out.json.partial.jsonl").exists()
    assert "0 from the LLM, 2 rule-based" in capsys.readouterr().out


GOOD = "2.0s User: What next?\n2.0s Assistant: Wash the lettuce first.\n45.0s Assistant: Now cut the cucumber.\n"


def test_llm_path_parses_falls_back_and_resumes(tmp_path, capsys):
    seen = []

    def flaky(prompts):
        seen.append(len(prompts))
        if len(seen) == 2:
            raise KeyboardInterrupt                 # killed after the first batch
        return [GOOD] * len(prompts)
    a = args_for(tmp_path, "goalstep", GOALSTEP, llm="fake", conversations_per_unit=2, batch=2)
    with pytest.raises(KeyboardInterrupt):
        cli_synthesize.main(a, generate=flaky)
    assert (tmp_path / "out.json.partial.jsonl").read_text().count("\n") == 2
    calls = []

    def rest(prompts):
        calls.append(len(prompts))
        return ["garbage", GOOD][:len(prompts)]
    assert cli_synthesize.main(a, generate=rest) == 0
    assert calls == [2]                             # only the 2 unfinished prompts were generated
    out = capsys.readouterr().out
    assert "1 from the LLM, 1 rule-based fallback" in out and "2 resumed" in out
    convs = json.loads((tmp_path / "out.json").read_text())
    assert [c["text_variant"] for c in convs].count("llm:fake") == 3
    assert convs[0]["conversation"][1] == {"role": "assistant", "content": "Wash the lettuce first.", "time": 2.0}


def test_refine_narration_with_fake_and_rules(tmp_path):
    answers = iter(["You pick up a knife.] -> [x", "no bracket here"])
    a = args_for(tmp_path, "refine-narration", NARR, llm="fake")
    assert cli_synthesize.main(a, generate=lambda ps: [next(answers) for _ in ps]) == 0
    got = json.loads((tmp_path / "out.json").read_text())
    assert got == {"C cuts the onion.": "You pick up a knife.", "C picks up a knife.": "You pick up a knife."}


def test_real_tiny_causal_lm(tmp_path, tiny_paths):
    """Any transformers causal LM: the tiny Llama generates (gibberish → counted rule-based fallback)."""
    a = args_for(tmp_path, "refine-narration", NARR, llm=str(tiny_paths.llm), batch=2, max_new_tokens=3)
    assert cli_synthesize.main(a) == 0
    got = json.loads((tmp_path / "out.json").read_text())
    assert set(got) == {"C cuts the onion.", "C picks up a knife."}


def test_bad_input(tmp_path, capsys):
    a = args_for(tmp_path, "goalstep", {"videos": [{"video_uid": "x", "segments": []}]}, rule_based=True)
    assert cli_synthesize.main(a) == 2
    assert "no GoalStep unit" in capsys.readouterr().err
