"""``ooo demo``: the whole pipeline on the in-memory mailbox with a made-up week of mail.

No server and no config: the first thing a new user runs. It uses the real engine, store
(in memory), policy and templates; only the mailbox and the transport are the in-memory
backends, and the clock is the week's own.
"""

from __future__ import annotations

import email
import email.policy
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ooo.app import build_owner_report, engine_settings, make_router
from ooo.config import loads
from ooo.core.policy import DESCRIPTIONS, Reason
from ooo.engine import Engine, Outcome
from ooo.mailbox.memory import MemoryMailbox
from ooo.report import render_text
from ooo.store import Store
from ooo.templating import Renderer
from ooo.transport.memory import MemoryTransport

OWNER = "Bob Example"
OWNER_ADDRESS = "bob@example.com"
TZ = ZoneInfo("Europe/Berlin")
START = datetime(2026, 12, 19, 18, 0, tzinfo=TZ)
END = datetime(2026, 12, 28, 9, 0, tzinfo=TZ)

#: The demo's own config: the same file format and validation as a real one.
DEMO_CONFIG = f"""
[owner]
name = "{OWNER}"
addresses = ["{OWNER_ADDRESS}"]
timezone = "{TZ.key}"

[away]
start = {START.replace(tzinfo=None).isoformat()}
end = {END.replace(tzinfo=None).isoformat()}
reply_interval = "7d"

[mailbox]   # not used: the demo reads an in-memory mailbox
host = "127.0.0.1"
security = "plain"
username = "demo"

[smtp]      # not used: the demo's replies go to an in-memory outbox
host = "127.0.0.1"
security = "plain"

[[network]]
kind = "mastodon"
handle = "@bob@hachyderm.io"

[[network]]
kind = "github"
handle = "acme/api"
label = "The API's discussion forum"

[[network]]
kind = "slack"
label = "#platform-help"
url = "https://acme.slack.com/archives/C0123"

[delegate]
name = "Carol Colleague"
email = "carol@example.com"
handle = "@carol@hachyderm.io"

[audiences]
vip = ["bigcustomer.example"]

[reply.vip]
cc_delegate = true

[[route]]
name = "billing"
subject_contains = ["invoice", "billing"]
delegate = {{ name = "Dave Finance", email = "dave@example.com" }}
forward_to_delegate = true
"""


@dataclass(frozen=True)
class DemoMail:
    at: datetime
    headers: str
    body: str = "Hi Bob,\n\ncould you have a look at this?\n\nThanks!\n"


def _mail(day: int, hour: int, headers: str, body: str | None = None) -> DemoMail:
    at = datetime(2026, 12, day, hour, 0, tzinfo=TZ)
    text = headers.strip() + f"\nDate: {email.utils.format_datetime(at)}\n"
    return DemoMail(at, text, body) if body else DemoMail(at, text)


WEEK: list[DemoMail] = [
    _mail(
        19,
        12,
        """
From: Dana Early <dana@partner.example>
Return-Path: <dana@partner.example>
To: bob@example.com
Subject: Before you go: the slides?
Message-ID: <early-1@partner.example>""",
    ),
    _mail(
        21,
        9,
        """
From: Alice Customer <alice@customer.example>
Return-Path: <alice@customer.example>
To: Bob Example <bob@example.com>
Subject: Question about the export API
Message-ID: <q1@customer.example>""",
    ),
    _mail(
        21,
        10,
        """
From: "Platform forum" <forum@discuss.example.com>
Return-Path: <forum@discuss.example.com>
To: bob@example.com
Subject: [Platform] Maintenance window on Tuesday
List-Id: <platform.discuss.example.com>
Message-ID: <list-1@discuss.example.com>""",
    ),
    _mail(
        21,
        14,
        """
From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
Return-Path: <>
To: bob@example.com
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
Content-Type: multipart/report; report-type=delivery-status; boundary="b"
Message-ID: <bounce-1@mx.example.net>""",
    ),
    _mail(
        22,
        8,
        """
From: Shop Deals <news@deals.example>
Return-Path: <bounce-123@deals.example>
To: bob@example.com
Subject: Our biggest sale of the year!
Precedence: bulk
List-Unsubscribe: <https://deals.example/unsubscribe>
Message-ID: <news-1@deals.example>""",
    ),
    _mail(
        22,
        11,
        """
From: Carol Colleague <carol@example.com>
Return-Path: <carol@example.com>
To: bob@example.com
Cc: team@example.com
Subject: Review of the Q1 plan
Message-ID: <q2@example.com>""",
    ),
    _mail(
        22,
        11,
        """
From: Erin Away <erin@vendor.example>
Return-Path: <erin@vendor.example>
To: bob@example.com
Subject: Automatic reply: Review of the Q1 plan
Auto-Submitted: auto-replied
X-Auto-Response-Suppress: All
Message-ID: <oof-1@vendor.example>""",
    ),
    _mail(
        23,
        16,
        """
From: Alice Customer <alice@customer.example>
Return-Path: <alice@customer.example>
To: bob@example.com
Subject: Re: Question about the export API
In-Reply-To: <q1@customer.example>
Message-ID: <q1-followup@customer.example>""",
        "Hi again, one more detail: we need CSV, not JSON.\n",
    ),
    _mail(
        23,
        18,
        """
From: Carol Colleague <carol@example.com>
Return-Path: <carol@example.com>
To: Alice Customer <alice@customer.example>
Cc: bob@example.com
Subject: Re: Question about the export API
In-Reply-To: <q1-followup@customer.example>
References: <q1@customer.example> <q1-followup@customer.example>
Message-ID: <carol-answer@example.com>""",
        "Hi Alice, the export takes format=csv: /v2/export?format=csv. Best, Carol\n",
    ),
    _mail(
        24,
        9,
        """
From: GitHub <noreply@github.example>
Return-Path: <noreply@github.example>
To: bob@example.com
Subject: [acme/api] New issue: export fails on large tables
Message-ID: <notif-1@github.example>""",
    ),
    _mail(
        24,
        13,
        """
From: Frank Friend <frank@elsewhere.example>
Return-Path: <frank@elsewhere.example>
To: team@example.com
Subject: Lunch next week?
Message-ID: <cc-1@elsewhere.example>""",
    ),
    _mail(
        26,
        10,
        """
From: Vera VIP <vera@bigcustomer.example>
Return-Path: <vera@bigcustomer.example>
To: bob@example.com
Subject: Contract renewal next quarter
Message-ID: <vip-1@bigcustomer.example>""",
    ),
    _mail(
        26,
        15,
        """
From: Ivan Buyer <ivan@shop.example>
Return-Path: <ivan@shop.example>
To: bob@example.com
Subject: Invoice 2026-117: wrong VAT rate?
Message-ID: <inv-1@shop.example>""",
    ),
    _mail(
        26,
        17,
        """
From: Vera VIP <vera@bigcustomer.example>
Return-Path: <vera@bigcustomer.example>
To: bob@example.com
Subject: Also: dinner in March?
Message-ID: <vip-2@bigcustomer.example>""",
    ),
    _mail(
        27,
        9,
        """
From: Ivan Buyer <ivan@shop.example>
Return-Path: <ivan@shop.example>
To: bob@example.com
Subject: Re: Invoice 2026-117: wrong VAT rate?
In-Reply-To: <inv-1@shop.example>
Message-ID: <inv-2@shop.example>""",
        "Never mind, Dave Finance sorted it out. Thanks!\n\n> Hi Bob, the VAT rate on...\n",
    ),
    _mail(
        27,
        18,
        """
From: =?utf-8?q?Gr=C3=A9goire_Partner?= <gregoire@partner.example>
Return-Path: <gregoire@partner.example>
To: bob@example.com
Subject: =?utf-8?q?Contrat_sign=C3=A9?=
Message-ID: <q3@partner.example>""",
    ),
]


def run_demo(out: Callable[[str], None] = print, show_reply: bool = True) -> dict[str, int]:
    """Run the week through the engine, print what happened and why; returns counts."""
    mailbox = MemoryMailbox()
    transport = MemoryTransport()
    store = Store(":memory:")
    clock_now = [START - timedelta(days=1)]
    cfg = loads(DEMO_CONFIG, Path("(built-in demo config)"))
    settings = replace(engine_settings(cfg), mailbox_id="memory:demo/INBOX")
    outcomes: list[Outcome] = []
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
        f"ooo demo: {OWNER} <{OWNER_ADDRESS}> is away "
        f"{START:%a %d %b %H:%M} – {END:%a %d %b %H:%M} ({TZ.key}), reply interval 7 days."
    )
    out("A made-up week of mail arrives; for each message, what ooo decided and why.\n")
    mailbox.open()
    engine.sync()  # baseline at the start of the window, as on a first start
    for mail in WEEK:
        raw = (mail.headers.strip() + "\n\n" + mail.body).replace("\n", "\r\n").encode()
        mailbox.deliver(raw, mail.at.astimezone(UTC))
        clock_now[0] = mail.at.astimezone(UTC) + timedelta(seconds=20)
        engine.sync()
    first_reply = transport.sent[0].raw if transport.sent else None

    for o in outcomes:
        when = o.message.received_at.astimezone(TZ) if o.message.received_at else None
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
