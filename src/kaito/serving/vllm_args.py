"""Check engine arguments with vLLM's own parser: an unknown or malformed key is a clear start-up error."""

from __future__ import annotations

import argparse
import difflib
from typing import Any, NoReturn

from kaito.api.runtime import ConfigError
from kaito.serving.engine_args import EngineArgs, render_argv


def make_parser() -> Any:
    """vLLM's OpenAI-server argument parser, raising ConfigError instead of exiting."""
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    class RaisingParser(FlexibleArgumentParser):  # type: ignore[misc]
        def error(self, message: str) -> NoReturn:
            raise ConfigError(f"vLLM rejected the engine arguments: {message}")

    return make_arg_parser(RaisingParser(prog="kaito serve", description="kaito serve (vLLM engine)"))


def _options(parser: argparse.ArgumentParser) -> tuple[dict[str, argparse.Action], frozenset[str]]:
    by_flag: dict[str, argparse.Action] = {}
    negatable: set[str] = set()
    for action in parser._actions:
        for option in action.option_strings:
            if option.startswith("--"):
                by_flag[option[2:]] = action
        if isinstance(action, argparse.BooleanOptionalAction):
            negatable.update(o[2:] for o in action.option_strings if not o.startswith("--no-"))
    return by_flag, frozenset(negatable)


def to_argv(args: EngineArgs, parser: argparse.ArgumentParser | None = None) -> list[str]:
    """Render `args` for vLLM after checking each name is one of its flags (with a did-you-mean hint)."""
    parser = parser or make_parser()
    by_flag, negatable = _options(parser)
    for name in args:
        root = name.split(".", 1)[0]
        if root not in by_flag:
            close = difflib.get_close_matches(root, list(by_flag), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join('`' + c + '`' for c in close)}?" if close else ""
            raise ConfigError(f"vllm.{name}: vLLM has no argument `--{root}`{hint}")
    return render_argv(args, negatable)


def parse_engine_args(args: EngineArgs) -> argparse.Namespace:
    """The namespace vLLM's server starts from, validated the way `vllm serve` validates it."""
    from vllm.entrypoints.launchers.cli_args import validate_parsed_serve_args

    parser = make_parser()
    argv = to_argv(args, parser)
    namespace: argparse.Namespace = parser.parse_args(argv)
    try:
        validate_parsed_serve_args(namespace)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"vLLM rejected the engine arguments: {err}") from err
    return namespace
