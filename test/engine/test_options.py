"""The engine options are declared once (engine/options.py): the command line and the node's parameters are both
generated from that table, agree on defaults, choices and ranges, and build the same EngineConfig."""
import argparse

import pytest

from vstream_ros.cli_common import add_backend_args, add_model_args, add_stream_args, engine_config
from vstream_ros.engine.options import CLI_NAMES, NODE_NAMES, OPTIONS, EngineConfig
from vstream_ros.ros import params as P


def parser():
    p = argparse.ArgumentParser(exit_on_error=False)
    add_model_args(p)
    add_stream_args(p)
    add_backend_args(p)
    return p


def test_every_option_is_a_flag_and_a_parameter_with_the_same_default_and_range():
    actions = {a.option_strings[0]: a for a in parser()._actions if a.option_strings}
    for o in OPTIONS:
        a = actions[o.flag]
        if o.negated_flag:
            assert a.default is False and o.default is True
        elif o.key != "model.checkpoint":
            assert a.default == (None if o.default == "" else o.default), o.key
        assert tuple(a.choices or ()) == o.choices, o.key
        spec = P.BY_NAME[o.key]
        assert (spec.default, spec.choices, spec.lo, spec.hi, spec.dynamic) == \
               (o.default, o.choices, o.lo, o.hi, o.dynamic), o.key
    assert len({o.key for o in OPTIONS}) == len(OPTIONS) == len({o.flag for o in OPTIONS})


def test_command_line_and_parameters_build_the_same_engine_config():
    args = parser().parse_args(["--model", "demo", "--fps", "4", "--threshold", "0.5", "--memory-policy", "window",
                                "--memory-budget-tokens", "9000", "--no-merge", "--device", "cpu"])
    values = {**{p.name: p.default for p in P.PARAMS}, "model.checkpoint": "demo", "stream.fps": 4.0,
              "stream.threshold": 0.5, "memory.policy": "window", "memory.budget_tokens": 9000,
              "model.merge_lora": False, "model.device": "cpu"}
    assert EngineConfig.from_args(args) == P.engine_config(values) == engine_config(args)
    assert EngineConfig.from_args(args).model.merge_lora is False


@pytest.mark.parametrize("argv,needle", [(["--fps", "100"], "--fps: must be in [0.1, 60], got 100"),
                                         (["--memory-budget-tokens", "-1"], "must be in [0, 131072], got -1"),
                                         (["--max-new-tokens", "2.5"], "expected a number")])
def test_ranges_are_checked_by_the_parser_with_the_declared_message(argv, needle):
    with pytest.raises(argparse.ArgumentError, match=__import__("re").escape(needle)):
        parser().parse_args(["--model", "demo", *argv])


def test_the_node_and_the_cli_refuse_the_same_budget_each_in_its_own_spelling():
    cfg = EngineConfig(memory_policy="window", memory_budget_tokens=60)
    with pytest.raises(ValueError) as cli:
        cfg.check(CLI_NAMES)
    node = P.cross_check({**{p.name: p.default for p in P.PARAMS}, "memory.policy": "window",
                          "memory.budget_tokens": 60})
    assert "--memory-budget-tokens 60 is below the minimum of --memory-policy window" in str(cli.value)
    assert node == str(cli.value).replace("--memory-budget-tokens", "memory.budget_tokens") \
        .replace("--memory-policy", "memory.policy")
    assert f"need {NODE_NAMES['backend']} runtime" in P.BY_NAME["memory.policy"].description
    policy_help = next(a.help for a in parser()._actions if "--memory-policy" in a.option_strings)
    assert f"need {CLI_NAMES['backend']} runtime" in policy_help
