"""Command-line adapter of the engine options (engine/options.py): the argparse arguments shared by `vstream`
subcommands that load a model (run, replay, eval, bench), generated from the one declaration, and the checked
EngineConfig of the parsed arguments.

Imports: argparse, engine.config/options. Nothing heavy (`--help` stays fast).
"""
from __future__ import annotations

import argparse
import sys

from .engine.options import CLI_NAMES, MIN_BUDGET_HELP, OPTIONS, BY_KEY, EngineConfig, Option

__all__ = ["add_model_args", "add_stream_args", "add_backend_args", "add_quantize_arg", "engine_config",
           "fail", "MIN_BUDGET_HELP"]
GROUP_TITLES = {"model": "model", "stream": "stream", "memory": "backend and memory"}


def _checked(option: Option):
    """argparse type: parse as the option's type, then its declared range (one message, the declared one)."""
    kind = type(option.default)

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        problem = option.problem(value, option.flag)
        if problem:
            raise argparse.ArgumentTypeError(problem.removeprefix(option.flag + " "))
        return value
    parse.__name__ = kind.__name__
    return parse


def add_option(g, option: Option, require_model: bool = True) -> None:
    """One declared engine option as a command-line argument."""
    kw = {"help": option.describe(CLI_NAMES)}
    if option.negated_flag:
        g.add_argument(option.flag, action="store_true", **kw)
        return
    if option.choices:
        kw["choices"] = option.choices
    elif isinstance(option.default, (int, float)) and not isinstance(option.default, bool):
        kw["type"] = _checked(option)
    default = None if option.default == "" else option.default
    if option.key == "model.checkpoint":
        kw.update(required=require_model, default=None if require_model else default)
    else:
        kw["default"] = default
        if default is not None and "(default" not in kw["help"]:
            kw["help"] += f" (default: {default})"
    if option.metavar:
        kw["metavar"] = option.metavar
    g.add_argument(option.flag, **kw)


def _add_group(p: argparse.ArgumentParser, group: str, require_model: bool = True) -> None:
    g = p.add_argument_group(GROUP_TITLES[group])
    for option in OPTIONS:
        if option.group == group:
            add_option(g, option, require_model)


def add_model_args(p: argparse.ArgumentParser, require_model: bool = True) -> None:
    _add_group(p, "model", require_model)


def add_quantize_arg(g) -> None:
    """--quantize alone (vstream bench builds its own models)."""
    add_option(g, BY_KEY["model.quantize"])


def add_stream_args(p: argparse.ArgumentParser) -> None:
    _add_group(p, "stream")


def add_backend_args(p: argparse.ArgumentParser) -> None:
    """The backend / bounded-memory choice (the node's model.backend and memory.* parameters)."""
    _add_group(p, "memory")


def engine_config(args: argparse.Namespace) -> EngineConfig:
    """The EngineConfig of parsed run/replay/eval arguments, checked (ValueError, nothing loaded)."""
    config = EngineConfig.from_args(args)
    config.check(CLI_NAMES)
    return config


def fail(message: str, code: int = 2) -> int:
    """Print a one-line error to stderr and return an exit code."""
    print(f"vstream: error: {' '.join(str(message).split())}", file=sys.stderr)
    return code
