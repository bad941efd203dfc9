"""``ooo check``: the config, the templates, both connections, each watched folder (and how:
NOTIFY, IDLE or polling) and each watched network, one line each.

A watched ``[[network]]`` entry is signed in to read-only, with the secret and the session the
daemon uses (``ooo.host.secrets.network_secret`` and ``session_vault``), and says what it can
see (``Watcher.check``); a refused sign-in or an unreachable service is a FAIL line with the
reason.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ooo.cli.common import (
    SubParsers,
    add_account_option,
    add_command,
    for_each_account,
    load_config,
)
from ooo.errors import OooError, UserError

if TYPE_CHECKING:
    from ooo.config import Config
    from ooo.core.network import NetworkEntry
    from ooo.mailbox.base import Watching
    from ooo.networks.base import Watcher

#: ``line(ok, what, detail)``: one line of the check's output.
Line = Callable[[bool, str, str], None]


def register(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    check = add_command(
        sub, common, "check", cmd_check, help="validate the config and try every connection"
    )
    add_account_option(check, "check")  # without it: every account, each under its name


def cmd_check(args: argparse.Namespace) -> int:
    from ooo.app import check_templates, make_mailbox, make_transport, state_dir
    from ooo.templating import Renderer

    several = for_each_account(args, cmd_check)
    if several is not None:
        return several
    failures = 0

    def line(ok: bool, what: str, detail: str) -> None:
        nonlocal failures
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'}  {what:<10} {detail}")

    cfg = load_config(args)
    line(True, "config", f"{cfg.path} is valid")
    now = datetime.now(UTC)
    window = f"{cfg.away.start.isoformat()} → {cfg.away.end.isoformat()} ({cfg.owner.timezone})"
    if now >= cfg.away.end:
        line(False, "window", f"{window} is over; set new dates in [away]")
    else:
        line(True, "window", window + (" — armed, not yet started" if now < cfg.away.start else ""))
    try:
        names = check_templates(cfg, Renderer(cfg.templates.dir))
        line(True, "templates", f"{', '.join(names)} render")
    except UserError as exc:
        line(False, "templates", exc.message)
    mailbox = make_mailbox(cfg)
    try:
        mailbox.open()
        line(
            True,
            "mailbox",
            (
                f"exchange {cfg.mailbox.username} at {cfg.mailbox.ews_url}"
                if cfg.mailbox.backend == "exchange"
                else f"{cfg.mailbox.backend} {cfg.mailbox.username}@{cfg.mailbox.host}:"
                f"{cfg.mailbox.effective_port}"
            )
            + " logged in",
        )
        check_folders(mailbox.watching(), line)
        autoreply = getattr(mailbox, "server_autoreply", None)
        if autoreply is not None:
            state = autoreply()
            if state:
                # A warning, not a failure: the owner may mean to switch it off before leaving.
                print(
                    f"warn  {'oof':<10} the server's own automatic replies are {state}: two "
                    "responders would answer every sender twice; turn them off (Outlook: File "
                    "> Automatic Replies)"
                )
    except (OooError, UserError) as exc:
        line(False, "mailbox", str(exc))
    finally:
        mailbox.close()
    transport = make_transport(cfg)
    try:
        line(True, "smtp" if cfg.smtp else "transport", transport.check())
    except OooError as exc:
        line(False, "smtp" if cfg.smtp else "transport", str(exc))
    finally:
        transport.close()
    check_networks(cfg, line)
    check_handoff(cfg, line)
    line(True, "state", str(state_dir(cfg)))
    return 1 if failures else 0


def check_folders(watching: Watching, line: Line) -> None:
    """One line per watched folder, with how news of it arrives (NOTIFY, IDLE, polling); a
    FAIL line per name or pattern that finds no folder; the folders never watched."""
    for folder in watching.folders:
        line(True, "folder", f"{folder!r} watched ({watching.how})")
    for problem in watching.problems:
        line(False, "folder", problem)
    if watching.skipped:
        print(f"{'skip':<5} {'folder':<10} never watched: {', '.join(watching.skipped)}")


def check_handoff(cfg: Config, line: Line) -> None:
    """The handoff to the mail server ([handoff]): the login, the server's extensions (or the
    Exchange OOF access), and a responder of the owner's own that would answer twice."""
    if cfg.handoff.method == "none":
        return
    from ooo import handoff
    from ooo.errors import UserError
    from ooo.templating import Renderer

    try:
        h = handoff.create(cfg, Renderer(cfg.templates.dir), lambda: datetime.now(UTC))
    except UserError as exc:
        line(False, "handoff", exc.message)
        return
    try:
        result = h.check()
    finally:
        h.close()
    line(result.ok, "handoff", result.detail)
    for warning in result.warnings:
        print(f"warn  {'handoff':<10} {warning}")


def check_networks(
    cfg: Config, line: Line, create: Callable[[NetworkEntry], Watcher] | None = None
) -> None:
    """Sign in to each watched network read-only and say what it can see, one line each.
    ``create`` builds the watcher of an entry (default: ``ooo.networks.create`` with the
    entry's secret and session, as the daemon does)."""
    from ooo.networks.base import NetworkAuthError, NetworkError

    make = create or _watcher_factory(cfg)
    for entry in (e for e in cfg.network if e.watch):
        where = entry.handle or entry.watch_room or entry.identity
        watcher: Watcher | None = None
        try:
            watcher = make(entry)
            line(True, entry.kind, f"{where}: {watcher.check()}")
        except NetworkAuthError as exc:
            line(False, entry.kind, f"{where}: sign-in refused: {exc} ({_secret_advice(entry)})")
        except NetworkError as exc:  # NetworkUnavailable: down, slow, 5xx, rate-limited
            line(False, entry.kind, f"{where}: cannot reach {entry.service_url}: {exc}")
        except UserError as exc:  # the secret could not be read (command, keyring)
            line(False, entry.kind, f"{where}: {exc.message}")
        except ImportError as exc:
            line(False, entry.kind, f"{where}: its client library is missing ({exc.name})")
        finally:
            if watcher is not None:
                watcher.close()


def _watcher_factory(cfg: Config) -> Callable[[NetworkEntry], Watcher]:
    from ooo import networks
    from ooo.app import state_dir
    from ooo.host.secrets import network_secret, session_vault

    def make(entry: NetworkEntry) -> Watcher:
        return networks.create(entry, network_secret(entry), session_vault(entry, state_dir(cfg)))

    return make


def _secret_advice(entry: NetworkEntry) -> str:
    if entry.token_command or entry.password_command:
        key = "token_command" if entry.token_command else "password_command"
        return f"check what its {key} prints"
    return f"store a new one with `ooo secret set network.{entry.kind}`"
