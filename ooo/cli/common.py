"""What the command modules share: how a command registers, how it loads the config, and
choices that come from the code that owns them."""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, overload

from ooo.errors import UserError

if TYPE_CHECKING:
    from ooo.config import Config
    from ooo.config.accounts import Accounts

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


def add_account_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--account NAME``: one account of several (ooo.config.accounts)."""
    parser.add_argument(
        "--account",
        metavar="NAME",
        help=f"{what} only this account (the main config file is 'default'; "
        "accounts/NAME.toml next to it is NAME)",
    )


def find_accounts(args: argparse.Namespace) -> Accounts:
    """The accounts the -c options (or $OOO_CONFIG, or the default path) lead to."""
    from ooo.config import accounts

    return accounts.find(getattr(args, "configs", None) or [])


def load_config(args: argparse.Namespace) -> Config:
    """The config named by -c, $OOO_CONFIG or the platform default (or, with --account, that
    account's); ConfigError if invalid."""
    from ooo import config
    from ooo.config.accounts import ACCOUNTS_DIR

    name = getattr(args, "account", None)
    if name is None and len(getattr(args, "configs", None) or []) <= 1:
        path = config.resolve_path(args.config)
        if path.exists() or not (path.parent / ACCOUNTS_DIR).is_dir():
            return config.load(args.config)  # one file, exactly as always
    accounts = find_accounts(args)
    (account,) = accounts.pick(name) if name else accounts.files[:1]
    return accounts.load(account)


def for_each_account(args: argparse.Namespace, handler: Handler) -> int | None:
    """Run ``handler`` once per account, each under a header line naming it, when there are
    several and no --account picks one; None when there is one account (the caller goes on
    as it always did, with the same output). One account's error (an invalid file) is
    printed and the next one still runs; the exit status is the worst of them."""
    if getattr(args, "account", None) is not None:
        return None
    accounts = find_accounts(args)
    if not accounts.several:
        return None
    code = 0
    for i, account in enumerate(accounts.files):
        if i:
            print()
        print(f"== account {account.name} ({account.path}) ==", flush=True)
        one = copy.copy(args)
        one.account = account.name
        try:
            code = max(code, handler(one))
        except UserError as exc:
            print(exc.render(), file=sys.stderr, flush=True)
            code = max(code, 2)
        sys.stdout.flush()
    return code


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
