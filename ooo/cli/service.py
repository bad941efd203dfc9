"""``ooo service install|uninstall|status``: run ooo in the background (systemd, launchd);
the work is done by :mod:`ooo.host.service`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from ooo.cli.common import SubParsers, add_command, choices_from, find_accounts
from ooo.errors import UserError

if TYPE_CHECKING:
    from ooo.host.service import Host

Action: TypeAlias = Callable[["Host", Path, bool], int]


def actions() -> dict[str, Action]:
    """The service actions, named as ooo.host.service names its functions."""
    from ooo.host import service

    return dict(service.ACTIONS)


def register(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    svc = add_command(
        sub, common, "service", cmd_service, help="run ooo in the background (systemd, launchd)"
    )
    choices_from(svc.add_argument("action"), lambda: list(actions()))
    svc.add_argument("--dry-run", action="store_true", help="print the unit file, change nothing")


def cmd_service(args: argparse.Namespace) -> int:
    from ooo.config import resolve_path
    from ooo.host.service import Host

    if len(getattr(args, "configs", None) or []) > 1:
        # The unit names one file; the accounts are found from it at every start.
        raise UserError(
            "the service runs one config file and the accounts next to it",
            advice="put the other accounts' files into the accounts/ folder next to "
            f"{resolve_path(args.config)} and give only that file",
        )
    path = resolve_path(args.config).expanduser().resolve()
    if args.action != "uninstall" and not path.exists() and not (path.parent / "accounts").is_dir():
        raise UserError(
            f"no config file at {path}", advice="create one first with `ooo config init`"
        )
    if args.action == "install":
        accounts = find_accounts(args)
        if accounts.several:  # one unit runs them all; the folder is read at every start
            print(f"one service for {len(accounts.files)} accounts: {', '.join(accounts.names)}")
    return actions()[args.action](Host.current(), path, args.dry_run)
