"""What the command modules share: how a command registers, how it loads the config, and
choices that come from the code that owns them."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, overload

if TYPE_CHECKING:
    from ooo.config import Config

#: What ``add_subparsers`` returns: each command module adds its parsers to it.
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
#: A command: the parsed arguments in, the exit status out.
Handler: TypeAlias = Callable[[argparse.Namespace], int]


def add_command(
    sub: SubParsers,
    common: argparse.ArgumentParser,
    name: str,
    handler: Handler,
    help: str,
    **kwargs: Any,
) -> argparse.ArgumentParser:
    """A command's parser: the global options (``common``) accepted after it too, and
    ``handler`` to run (``main`` calls ``args.func``)."""
    parser = sub.add_parser(name, parents=[common], help=help, **kwargs)
    parser.set_defaults(func=handler)
    return parser


def load_config(args: argparse.Namespace) -> Config:
    """The config named by -c, $OOO_CONFIG or the platform default; ConfigError if invalid."""
    from ooo import config

    return config.load(args.config)


def choices_from(action: argparse.Action, load: Callable[[], Sequence[str]]) -> None:
    """Give ``action`` the choices ``load()`` returns, read from the module that owns them
    only when argparse needs them: to check a value given, or to print that command's help.
    `ooo --help` and the commands that never use them do not pay for importing the report or
    the config models. (Set after add_argument, which would read them at once.)"""
    action.choices = LazyChoices(load)


class LazyChoices(Sequence[str]):
    """Choices loaded on first use (see :func:`choices_from`)."""

    def __init__(self, load: Callable[[], Sequence[str]]) -> None:
        self._load = load
        self._values: tuple[str, ...] | None = None

    def _all(self) -> tuple[str, ...]:
        if self._values is None:
            self._values = tuple(self._load())
        return self._values

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __contains__(self, value: object) -> bool:
        return value in self._all()
