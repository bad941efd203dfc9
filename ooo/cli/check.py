"""``ooo check``: the config, the templates and both connections, one line each."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from ooo.cli.common import SubParsers, add_command, load_config
from ooo.errors import OooError, UserError


def register(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    add_command(
        sub, common, "check", cmd_check, help="validate the config and try every connection"
    )


def cmd_check(args: argparse.Namespace) -> int:
    from ooo.app import check_templates, make_mailbox, make_transport, state_dir
    from ooo.templating import Renderer

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
            + f" logged in, folder {cfg.mailbox.folder!r} selected",
        )
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
    line(True, "state", str(state_dir(cfg)))
    return 1 if failures else 0
