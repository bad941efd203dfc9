"""``ooo run``: the responder in the foreground (the daemon a service manager starts).

One account (one config file): one daemon, exactly as always. Several (an ``accounts/``
folder next to the config file, or several ``-c``): one daemon thread per account in this one
process (ooo.accounts), unless ``--account NAME`` picks one.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ooo import __version__
from ooo.cli.common import SubParsers, add_account_option, add_command, find_accounts
from ooo.errors import UserError
from ooo.host.threads import child_name

if TYPE_CHECKING:
    from ooo.config import Config
    from ooo.config.accounts import Accounts
    from ooo.mailbox.base import Mailbox

log = logging.getLogger("ooo")

#: How long start-up waits for the mailbox it began opening early (see open_early) before it
#: opens one of its own.
EARLY_WAIT = 60.0


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
    from ooo.host import logs

    # A crash in native code (SQLite, a TLS library) prints each thread's stack to stderr (the
    # service's journal) rather than ending the daemon without a word.
    if not faulthandler.is_enabled():
        with contextlib.suppress(AttributeError, ValueError, OSError):  # no usable stderr
            faulthandler.enable()
    accounts = find_accounts(args)
    chosen = accounts.pick(getattr(args, "account", None))
    if len(chosen) == 1:
        (account,) = chosen
        cfg = accounts.load(account)
        opened = open_early(cfg)
        from ooo.daemon import Daemon

        logfile = logs.add_file(logs.default_log_dir(cfg.state.dir))
        log.info("ooo %s (pid %d): config %s, log %s", __version__, os.getpid(), cfg.path, logfile)
        prepare = None if account.main else (lambda new: accounts.prepare(account, new))
        daemon = Daemon(cfg, once=args.once, dry_run=args.dry_run, prepare=prepare)
        daemon.opened = opened()
        return daemon.run()

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


def open_early(cfg: Config) -> Callable[[], Mailbox | None]:
    """Begin connecting to the mailbox (log in, SELECT) in a thread while the rest of ooo is
    imported (about 0.7 s): a server that takes its time to open a big folder (Dovecot needs
    0.4-0.5 s to SELECT a 100,000-message Maildir INBOX) then adds nothing to start-up.

    Returns a function giving the opened mailbox, or None when there is none to give: outside
    the away window (the daemon only waits then), on any failure (the daemon opens its own and
    reports the problem with its usual advice and backoff), or after ``EARLY_WAIT`` (the
    thread then closes what it opens)."""
    now = datetime.now(UTC)
    if not cfg.away.start <= now < cfg.away.end:
        return lambda: None
    lock = threading.Lock()
    opened: list[Mailbox] = []
    abandoned = threading.Event()

    def work() -> None:
        from ooo import mailbox as mailboxes
        from ooo.host.secrets import password_provider

        box = None
        try:
            box = mailboxes.create(cfg.mailbox, password_provider("mailbox", cfg.mailbox))
            box.open()
        except Exception as exc:  # the daemon tries again and says what is wrong
            log.debug("opening the mailbox early failed (the daemon tries again): %s", exc)
            if box is not None:
                box.close()
            return
        with lock:
            if not abandoned.is_set():
                opened.append(box)
                return
        box.close()  # start-up went on without it

    thread = threading.Thread(target=work, name=child_name("open-early"), daemon=True)
    thread.start()

    def result() -> Mailbox | None:
        thread.join(EARLY_WAIT)
        with lock:
            abandoned.set()
            return opened[0] if opened else None

    return result


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
