"""``ooo run``: the responder in the foreground (the daemon a service manager starts).

One account (one config file): one daemon, exactly as always. Several (an ``accounts/``
folder next to the config file, or several ``-c``): one daemon thread per account in this one
process (ooo.accounts), unless ``--account NAME`` picks one.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import TYPE_CHECKING

from ooo import __version__
from ooo.cli.common import SubParsers, add_account_option, add_command, find_accounts
from ooo.errors import UserError

if TYPE_CHECKING:
    from ooo.config.accounts import Accounts

log = logging.getLogger("ooo")


def register(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    run = add_command(sub, common, "run", cmd_run, help="run the responder in the foreground")
    run.add_argument(
        "--once", action="store_true", help="process everything pending, send what is due, and exit"
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="decide and render, but send nothing and change nothing",
    )
    add_account_option(run, "run")


def cmd_run(args: argparse.Namespace) -> int:
    from ooo.daemon import Daemon
    from ooo.host import logs

    accounts = find_accounts(args)
    chosen = accounts.pick(getattr(args, "account", None))
    if len(chosen) == 1:
        (account,) = chosen
        cfg = accounts.load(account)
        logfile = logs.add_file(logs.default_log_dir(cfg.state.dir))
        log.info("ooo %s (pid %d): config %s, log %s", __version__, os.getpid(), cfg.path, logfile)
        prepare = None if account.main else (lambda new: accounts.prepare(account, new))
        return Daemon(cfg, once=args.once, dry_run=args.dry_run, prepare=prepare).run()

    from ooo.accounts import AccountsDaemon, tag_log_lines

    logfile = logs.add_file(logs.default_log_dir(accounts.configured_root))
    tag_log_lines()
    log.info(
        "ooo %s (pid %d): %d accounts (%s), log %s",
        __version__,
        os.getpid(),
        len(chosen),
        ", ".join(accounts.names),
        logfile,
    )
    if args.once:
        return _once_each(args, accounts)
    return AccountsDaemon(
        accounts, dry_run=args.dry_run, rediscover=lambda: find_accounts(args)
    ).run()


def _once_each(args: argparse.Namespace, accounts: Accounts) -> int:
    """``--once`` over several accounts: each in turn; one account's problem is printed and
    the others still run; the exit status is the worst."""
    import sys

    from ooo.daemon import Daemon

    code = 0
    for account in accounts.files:
        try:
            cfg = accounts.load(account)
            code = max(code, Daemon(cfg, once=True, dry_run=args.dry_run).run())
        except UserError as exc:
            print(f"account {account.name}: {exc.render()}", file=sys.stderr)
            code = max(code, 2)
    return code
