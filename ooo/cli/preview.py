"""``ooo preview``: the exact reply a message would get (headers and every MIME part), or the
exact reason it gets none, from the real engine on a throw-away copy of the state; the language
it is written in and why; and, for an inquiry, which watched networks ooo will look at for
answers (and where it will ask)."""

from __future__ import annotations

import argparse
import email
import email.policy
import logging
import sys
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from pathlib import Path
from typing import TYPE_CHECKING

from ooo.cli.common import SubParsers, add_account_option, add_command, load_config
from ooo.errors import UserError

if TYPE_CHECKING:
    from ooo.config import Config
    from ooo.core.routing import Routing
    from ooo.store import Store


def register(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    pv = add_command(
        sub,
        common,
        "preview",
        cmd_preview,
        help="show the exact reply a message would get, or why it gets none",
    )
    pv.add_argument("--from", dest="sender", metavar="ADDR", help="the sender's address")
    pv.add_argument("--to", metavar="ADDR", help="the owner address it was sent to")
    pv.add_argument("--subject", default="Hello", help="the message's subject")
    pv.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'Name: value'",
        help="an extra header (repeatable), e.g. 'Precedence: bulk'",
    )
    pv.add_argument("--eml", metavar="FILE", type=Path, help="a whole message file instead")
    pv.add_argument(
        "--handoff",
        action="store_true",
        help="print the Sieve script (or Exchange automatic replies) the server would run",
    )
    add_account_option(pv, "preview the reply of")


def cmd_preview(args: argparse.Namespace) -> int:
    """Run the message through the real engine (policy, routing, templates) against a
    throw-away copy of the state, and print what would be sent."""
    from ooo.app import open_store, state_db
    from ooo.store import Store

    cfg = load_config(args)
    if args.handoff:
        return _preview_handoff(cfg)
    if args.eml:
        try:
            raw = args.eml.read_bytes()
        except OSError as exc:
            raise UserError(f"cannot read {args.eml}: {exc}") from exc
    elif args.sender:
        raw = _synthetic(args, cfg.owner.addresses[0])
    else:
        raise UserError("preview needs --from ADDR or --eml FILE")
    now = datetime.now(UTC)
    # A moment inside the window, so the preview shows the reply even before leaving.
    at = now if cfg.away.start <= now < cfg.away.end else cfg.away.start
    if state_db(cfg).exists():
        with open_store(cfg) as real:
            store = real.snapshot()
    else:
        store = Store(":memory:")
    with store:
        return _preview(cfg, raw, at, store)


def _preview(cfg: Config, raw: bytes, at: datetime, store: Store) -> int:
    from dataclasses import replace

    from ooo.app import engine_settings, make_router, read_contacts
    from ooo.engine import Engine, Outcome
    from ooo.mailbox.memory import MemoryMailbox
    from ooo.templating import Renderer
    from ooo.transport.memory import MemoryTransport

    known: frozenset[str] = frozenset()
    if cfg.audiences.external_replies == "known":
        if cfg.audiences.contacts_file:
            known = frozenset(read_contacts(cfg.audiences.contacts_file))
        print(
            'note: external_replies = "known": preview knows the contacts file only; the daemon '
            "also counts everyone in the Sent folder"
        )
    mailbox = MemoryMailbox()
    mailbox.open()
    mailbox.deliver(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), at)
    settings = replace(engine_settings(cfg), mailbox_id="preview")
    outcomes: list[Outcome] = []
    engine = Engine(
        settings,
        mailbox,
        MemoryTransport(),
        store,
        Renderer(cfg.templates.dir),
        lambda: at,
        dry_run=True,
        router=make_router(cfg, lambda: known),
        on_outcome=outcomes.append,
    )
    logging.getLogger("ooo").setLevel(logging.WARNING)
    engine.sync()
    if not outcomes:
        raise UserError("the message could not be read")
    outcome = outcomes[-1]
    print(f"decision: {outcome.decision.reason.value}: {outcome.decision.describe()}")
    if outcome.routing:
        for line in outcome.routing.describe():
            print(line)
    if outcome.decision.reply and (outcome.routing is None or outcome.routing.reply):
        from ooo.core.compose import reply_language

        choice = reply_language(outcome.message, outcome.decision, settings.reply, outcome.routing)
        print(choice.describe())
    if outcome.routing and outcome.ref and any(e.watch for e in cfg.network):
        print(watched_line(cfg, outcome.routing))
    row_id = store.messages()[-1].id
    mine = [r for r in store.replies() if r.message == row_id]
    if not mine:
        print("no reply would be sent.")
        return 0
    for row in mine:
        what = "reply" if row.kind == "reply" else "forward to the delegate"
        cc = f", cc {','.join(row.cc)}" if row.cc else ""
        envelope = row.envelope_from or "<>"
        print(f"\n=== {what}: to {row.recipient}{cc}; envelope sender {envelope} ===")
        print(_show(email.message_from_bytes(row.raw, policy=email.policy.default)))
    return 0


def watched_line(cfg: Config, routing: Routing) -> str:
    """Where ooo will look for answers to this sender's inquiry: the watched entries they may
    see, and whether ooo also asks there (a notice in an internal room, ``ask``)."""
    from ooo.core.social import watched_entries

    found = watched_entries(
        cfg.network, internal_sender=routing.internal_sender, audience=routing.audience
    )
    if not found:
        return "watched:  none for this sender (the watched networks are not shown to them)"
    places = []
    for entry, asks in found:
        place = entry.display
        if asks:
            shown = ["their name"] + ["the subject"] * cfg.reply.share_subject
            shown += ["a mailto link to answer them"] * entry.share_sender
            unsaid = "" if entry.share_sender else ", not their address"
            place += f" (ooo posts a notice asking the room, with {' and '.join(shown)}{unsaid})"
        places.append(place)
    return "watched:  answers are looked for on " + "; ".join(places)


def _synthetic(args: argparse.Namespace, default_to: str) -> bytes:
    lines = [
        f"Return-Path: <{args.sender}>",
        f"From: {args.sender}",
        f"To: {args.to or default_to}",
        f"Subject: {args.subject}",
        "Message-ID: <preview@ooo.invalid>",
    ]
    for header in args.header:
        if ":" not in header:
            raise UserError(f"--header {header!r} must look like 'Name: value'")
        lines.append(header)
    return ("\n".join(lines) + "\n\n(preview)\n").encode()


def _show(msg: Message) -> str:
    """Headers as they go out, then every MIME part decoded (what a reader would see)."""
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    out = [f"{k}: {v}" for k, v in parsed.items()]
    for part in parsed.walk():
        if part.is_multipart():
            continue
        assert isinstance(part, EmailMessage)
        out.append(f"\n--- part {part.get_content_type()} ---")
        out.append(str(part.get_content()).rstrip())
    return "\n".join(out)


def _preview_handoff(cfg: Config) -> int:
    """What ``[handoff]`` would install now: the exact script, or the OOF settings (with the
    senders answered so far, from the state)."""
    from ooo import handoff
    from ooo.app import open_store, state_db
    from ooo.templating import Renderer

    if cfg.handoff.method == "none":
        raise UserError(
            'handoff.method is "none": nothing is handed to the mail server',
            advice='set [handoff] method = "sieve" (ManageSieve) or "exchange" to see it',
        )
    answered: list[str] = []
    if state_db(cfg).exists():
        with open_store(cfg) as store:
            answered = store.answered_senders(cfg.away.start)
    h = handoff.create(cfg, Renderer(cfg.templates.dir), lambda: datetime.now(UTC))
    try:
        sys.stdout.write(h.describe(datetime.now(UTC) + cfg.handoff.lease, answered))
    finally:
        h.close()
    return 0
