"""``ooo demo``: the whole pipeline on the in-memory mailbox with a made-up week of mail.

No server and no config: the first thing a new user runs. It uses the real engine, store
(in memory), policy and templates; only the mailbox and the transport are the in-memory
backends, and the clock is the week's own. The networks the demo's config watches (Mastodon,
and an internal Matrix room that ooo asks for internal senders) are in-memory networks watched
by the real watch loop (:mod:`ooo.demo.networks`): a follower answers on Mastodon, a teammate
in the room, and the report says so.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ooo.app import build_owner_report, engine_settings, make_router
from ooo.config import loads
from ooo.core.policy import DESCRIPTIONS, Reason
from ooo.demo.networks import DemoNetworks, DemoPost, load_posts
from ooo.engine import Engine, Outcome
from ooo.mailbox.memory import MemoryMailbox
from ooo.report import render_text
from ooo.store import Store
from ooo.templating import Renderer
from ooo.transport.memory import MemoryTransport

HERE = Path(__file__).resolve().parent
#: The demo's own config (config.toml, beside this module) and its week of mail (week.toml).
CONFIG_FILE = HERE / "config.toml"
WEEK_FILE = HERE / "week.toml"
#: The body of a demo mail that gives none.
DEFAULT_BODY = "Hi Bob,\n\ncould you have a look at this?\n\nThanks!\n"


@dataclass(frozen=True)
class DemoMail:
    at: datetime
    headers: str
    body: str = DEFAULT_BODY


def load_week(tz: ZoneInfo) -> list[DemoMail]:
    """The week's mail, each with a Date header from its arrival time in ``tz``."""
    week = _week()
    mails = []
    for entry in week["mail"]:
        at = entry["at"].replace(tzinfo=tz)
        headers = entry["headers"].strip() + f"\nDate: {email.utils.format_datetime(at)}\n"
        mails.append(DemoMail(at, headers, entry.get("body", DEFAULT_BODY)))
    return mails


def _week() -> dict[str, Any]:
    return tomllib.loads(WEEK_FILE.read_text(encoding="utf-8"))


def timeline(tz: ZoneInfo) -> list[DemoMail | DemoPost]:
    """The week's mail and posts, in the order they happen (a mail first at the same time)."""
    events: list[DemoMail | DemoPost] = [*load_week(tz), *load_posts(_week(), tz)]
    return sorted(events, key=lambda e: (e.at, isinstance(e, DemoPost)))


def run_demo(out: Callable[[str], None] = print, show_reply: bool = True) -> dict[str, int]:
    """Run the week through the engine, print what happened and why; returns counts."""
    mailbox = MemoryMailbox()
    transport = MemoryTransport()
    store = Store(":memory:")
    cfg = loads(CONFIG_FILE.read_text(encoding="utf-8"), Path("(built-in demo config)"))
    tz, start, end = cfg.owner.tz, cfg.away.start.astimezone(cfg.owner.tz), cfg.away.end
    end = end.astimezone(tz)
    settings = replace(engine_settings(cfg), mailbox_id="memory:demo/INBOX")
    outcomes: list[Outcome] = []
    clock_now = [start - timedelta(days=1)]
    engine = Engine(
        settings,
        mailbox,
        transport,
        store,
        Renderer(),
        lambda: clock_now[0],
        on_outcome=outcomes.append,
        router=make_router(cfg, frozenset),
    )
    out(
        f"ooo demo: {cfg.owner.name} <{cfg.owner.addresses[0]}> is away "
        f"{start:%a %d %b %H:%M} – {end:%a %d %b %H:%M} ({tz.key}), reply interval 7 days."
    )
    out("A made-up week of mail arrives; for each message, what ooo decided and why.\n")
    networks = DemoNetworks(cfg, store, lambda: clock_now[0])
    told: list[str] = []
    mailbox.open()
    engine.sync()  # baseline at the start of the window, as on a first start
    for event in timeline(tz):
        if isinstance(event, DemoPost):
            told += networks.publish(event)
            clock_now[0] = event.at.astimezone(UTC) + timedelta(minutes=1)
        else:
            raw = (event.headers.strip() + "\n\n" + event.body).replace("\n", "\r\n").encode()
            mailbox.deliver(raw, event.at.astimezone(UTC))
            clock_now[0] = event.at.astimezone(UTC) + timedelta(seconds=20)
            engine.sync()
        told += networks.poll()  # after the mail: a network never delays a reply
    first_reply = transport.sent[0].raw if transport.sent else None

    for o in outcomes:
        when = o.message.received_at.astimezone(tz) if o.message.received_at else None
        stamp = f"{when:%a %d %b %H:%M}" if when else "?"
        who = o.message.from_address or o.message.sender or "(no sender)"
        mark = (
            "REPLY "
            if o.decision.reply
            else "track "
            if o.decision.reason is Reason.FOLLOW_UP
            else "skip  "
        )
        out(f"{stamp}  {mark} {who:<32} {o.message.subject[:44]!r}")
        out(f"{'':18}→ {o.decision.describe()}")
        if o.routing and o.decision.reply:
            r = o.routing
            helper = ""
            if r.delegate:
                how = (
                    "forwarded to" if r.forward_to_delegate else "cc" if r.cc_delegate else "names"
                )
                helper = f", {how} {r.delegate.name}"
            out(f"{'':20}{r.audience} ({r.audience_reason}){helper}; {o.ref}")
            if r.route:
                out(f"{'':20}{r.route}")
    reasons = Counter(o.decision.reason for o in outcomes)
    out("")
    forwards = sum(1 for s in transport.sent if b"auto-forwarded" in s.raw)
    out(
        f"{len(outcomes)} messages, {len(transport.sent) - forwards} replies and {forwards} "
        f"forward(s) to a delegate sent, "
        f"{len(outcomes) - reasons[Reason.REPLY]} left alone:"
    )
    for reason, count in reasons.most_common():
        out(f"  {count:>3}  {reason.value:<26} {DESCRIPTIONS[reason]}")
    places = " and ".join(p.name for p in networks.places.values())
    out(f"\nMeanwhile, ooo watched {places} (in memory here),")
    out("and asked the room for the internal senders. What people posted, and what ooo saw:\n")
    for line in told:
        out(line)
    if show_reply and first_reply is not None:
        out("\nThe first reply, exactly as sent (text part):\n")
        msg = email.message_from_bytes(first_reply, policy=email.policy.default)
        for name in (
            "From",
            "To",
            "Subject",
            "In-Reply-To",
            "References",
            "Auto-Submitted",
            "X-Auto-Response-Suppress",
        ):
            out(f"  {name}: {msg[name]}")
        body = msg.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        out("")
        out("\n".join("  " + line for line in text.rstrip().splitlines()))
    out("\nBack at the office, `ooo report` says:\n")
    report = build_owner_report(cfg, store)
    out("\n".join("  " + line for line in render_text(report).rstrip().splitlines()))
    out(
        "\nNext: `ooo config init` (or copy config.example.toml), then `ooo check`, "
        "`ooo preview --from someone@example.org` and `ooo run` (or `ooo service install`)."
    )
    return {r.value: n for r, n in reasons.items()} | {"sent": len(transport.sent)}
