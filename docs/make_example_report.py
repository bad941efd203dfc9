"""Write docs/example-report.html (and, with --screenshot, docs/example-report.png) from fixed,
made-up data: two weeks away, 25 inquiries, every kind of outcome, some of them answered on the
owner's networks (a follower on Mastodon, a teammate in the internal Matrix room).

Usage: ``python docs/make_example_report.py [--screenshot] [--out FOLDER] [--lang de]``. The
page is what ``ooo report --format html`` makes (the shipped templates/report.html.j2 and
report.css); with ``--lang``, in that language, as ``example-report.<lang>.html`` (for a native
speaker to read; only the English one is committed). The
screenshot is the phone view (420 px wide), taken with headless Chromium
(``scripts/install-browser``). The data and the dates are fixed, so the HTML is the same on
every run; tests/unit/report/test_example_report.py checks that the committed page is what the
code makes today, so run this again (with --screenshot) whenever the page changes.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ooo.core.tracking import InquiryFacts, SignalEvent
from ooo.host.files import write_atomic
from ooo.report import build_report, render

TZ = ZoneInfo("Europe/Berlin")
START = datetime(2026, 7, 6, 8, 0, tzinfo=TZ)  # a Monday
END = datetime(2026, 7, 20, 8, 0, tzinfo=TZ)
HERE = Path(__file__).resolve().parent

# An event after an inquiry arrived: (hours later, kind, by, rule, evidence, author, helper,
# flagged), as the resolution tracker stores it.
Event = tuple[float, str, str | None, str, str, str | None, str | None, bool]
CAROL = "carol@example.com"  # the delegate


def resolved(hours: float, by: str, evidence: str, author: str | None = None) -> Event:
    rule = {"sender": "sender_says_resolved", "owner": "owner_resolved"}.get(by, f"{by}_answered")
    return (hours, "resolved", by, rule, evidence, author, None, False)


def helped(hours: float, evidence: str, author: str, helper: str) -> Event:
    return (hours, "resolved", "sender", "sender_says_resolved", evidence, author, helper, False)


def still_open(hours: float, evidence: str, author: str, urgent: bool = False) -> Event:
    return (hours, "open", None, "sender_still_open", evidence, author, None, urgent)


def reopened(hours: float) -> Event:
    return (hours, "reopened", None, "owner_reopened", "", None, None, False)


# A post on the owner's network, as the watchers store it: (the event, network, link).
Post = tuple[Event, str, str]


def answered_on(hours: float, network: str, author: str, evidence: str, link: str) -> Post:
    event: Event = (
        hours,
        "resolved",
        "network",
        "network_answered",
        evidence,
        author,
        author,
        False,
    )
    return event, network, link


# The networks' side of some inquiries (by subject): what the watchers saw there, with the
# email signals of the same inquiry, merged into one story. Only the page uses them
# (``example_data(networks=True)``): the data without them stays an email-only report.
NETWORK_STORIES: dict[str, list[Event | Post]] = {
    "Export to CSV drops accents": [
        answered_on(
            6,
            "mastodon",
            "@gus@fosstodon.org",
            "Open the file as UTF-8 in the import dialog; the export itself is fine.",
            "https://fosstodon.org/@gus/113620418817",
        ),
        resolved(9, "sender", "Thanks, that did it!", "marta@customer.example"),
    ],
    "Where is the on-call rota?": [
        answered_on(
            0.5,
            "matrix",
            "@felix:example.com",
            "It moved to the wiki under Operations.",
            "https://matrix.to/#/!teamhelp:example.com/$rota?via=example.com",
        ),
    ],
}


# (day of the window, time, name, address, subject, audience, answered?, events)
Row = tuple[int, str, str, str, str, str, bool, list[Event]]
INQUIRIES: list[Row] = [
    (0, "09:12", "Alice Martin", "alice@customer.example", "Invoice 2026-118 looks wrong",
     "external", True,
     [resolved(26, "delegate", "I have corrected the invoice and sent you the new PDF.", CAROL)]),
    (0, "11:40", "Jonas Weber", "jonas@example.com", "Access to the staging cluster?",
     "internal", True,
     [resolved(1.5, "network", "You can request it in #infra-access, I just approved it.",
               "dana@example.com")]),
    (0, "16:05", "Priya Raman", "priya@bigclient.example", "Contract renewal: signature needed",
     "vip", True,
     [still_open(30, "We still need your signature before the 15th, this is urgent.",
                 "priya@bigclient.example", urgent=True)]),
    (1, "08:30", "Tom Becker", "tom@example.com", "Which config flag disables the cache?",
     "internal", True,
     [resolved(3, "sender", "Never mind, found it in the docs.", "tom@example.com")]),
    (1, "13:17", "Léa Dubois", "lea@partner.example", "Question sur l'API de facturation",
     "external", True,
     [helped(20, "Merci, c'est réglé grâce à @carol@hachyderm.io !", "lea@partner.example",
             "@carol@hachyderm.io")]),
    (2, "10:02", "Mark Olsen", "mark@vendor.example", "Quarterly review slides", "external",
     True, []),
    (2, "22:48", "Sofia García", "sofia@customer.example", "Error 502 when uploading large files",
     "external", True,
     [resolved(9, "network", "Raise client_max_body_size; we hit the same thing last year.",
               "eve@example.net")]),
    (3, "09:55", "Daniel Kim", "daniel@example.com", "Budget for the offsite", "internal", True,
     [still_open(4, "I still need a rough number by Friday.", "daniel@example.com")]),
    (3, "14:20", "Noor Haddad", "noor@university.example", "Guest lecture in October?",
     "external", True,
     [resolved(28, "owner", "Said yes from my phone; dates to follow.")]),
    (4, "07:45", "Pieter de Vries", "pieter@partner.example", "Koppeling met ons CRM",
     "external", True,
     [resolved(50, "sender", "Het is opgelost, bedankt!", "pieter@partner.example")]),
    (4, "12:10", "Hannah Schulz", "hannah@example.com", "Can someone review PR #482?",
     "internal", True,
     [resolved(2, "network", "Reviewed and merged, looks good.", "felix@example.com")]),
    (5, "10:30", "Chris Doyle", "chris@startup.example", "Partnership idea", "external", True,
     []),
    (6, "18:22", "Yuki Tanaka", "yuki@customer.example", "Login loop on the mobile app",
     "external", True,
     [resolved(14, "delegate", "This is fixed in 4.2.1, please update the app.", CAROL)]),
    (7, "08:05", "Priya Raman", "priya@bigclient.example", "Data processing agreement", "vip",
     True,
     [resolved(5, "delegate", "Attached is the signed DPA from our legal team.", CAROL)]),
    (7, "11:11", "Oliver Brown", "oliver@example.com", "Lunch next week?", "internal", True,
     [resolved(0.75, "sender", "Thanks, got it, see you when you are back.",
               "oliver@example.com")]),
    (8, "09:00", "Marta Nowak", "marta@customer.example", "Export to CSV drops accents",
     "external", True,
     [resolved(6, "network",
               "Open the file as UTF-8 in the import dialog; the export itself is fine.",
               "@gus@fosstodon.org")]),
    (8, "15:40", "Ahmed Ali", "ahmed@example.com", "Security review for the new endpoint",
     "internal", True,
     [still_open(3, "Urgent: the release is blocked on this, asap please.",
                 "ahmed@example.com", urgent=True)]),
    (9, "10:15", "Emma Wilson", "emma@press.example", "Interview request", "external", True,
     []),
    (9, "21:03", "Lucas Silva", "lucas@customer.example", "Webhook retries", "external", True,
     [resolved(11, "sender", "Figured it out, it was our firewall.", "lucas@customer.example")]),
    (10, "09:20", "Jonas Weber", "jonas@example.com", "Staging cluster again | DNS",
     "internal", False,
     [resolved(2, "network", "DNS is back, it was the resolver.", "dana@example.com")]),
    (11, "13:33", "Ines Costa", "ines@partner.example", "Pregunta sobre la licencia",
     "external", True,
     [resolved(8, "sender", "Ya está resuelto, gracias.", "ines@partner.example")]),
    (11, "16:50", "Grace Lee", "grace@example.com", "Offsite agenda draft", "internal", True,
     [resolved(1, "owner", "Answered from my phone."), reopened(20)]),
    (12, "08:44", "Ben Carter", "ben@customer.example", "Refund for duplicate charge",
     "external", True,
     [resolved(4, "delegate", "The duplicate charge has been refunded.", CAROL)]),
    (12, "19:05", "Olivia Martin", "olivia@example.com", "Conference talk proposal feedback",
     "internal", True, []),
    (13, "10:10", "Sam Rivera", "sam@example.com", "Where is the on-call rota?", "internal",
     True,
     [resolved(0.5, "network", "It moved to the wiki under Operations.", "felix@example.com")]),
]  # fmt: skip

SUPPRESSED = {
    "mailing_list": 64,
    "robot_sender": 23,
    "auto_submitted": 11,
    "already_replied": 7,
    "precedence_bulk": 5,
    "spam": 3,
}


def example_data(networks: bool = False) -> tuple[list[InquiryFacts], list[SignalEvent]]:
    """The inquiries and their signals; with ``networks``, some told as the owner's networks
    saw them (:data:`NETWORK_STORIES`)."""
    inquiries, signals = [], []
    for n, (day, hhmm, name, address, subject, audience, replied, events) in enumerate(INQUIRIES):
        hh, mm = map(int, hhmm.split(":"))
        received = (START + timedelta(days=day)).replace(hour=hh, minute=mm)
        ref = f"OOO-{n + 1:02d}{'KMQRTVWXYZ'[n % 10]}{'ABCDEFGHJK'[day % 10]}7Q"
        inquiries.append(
            InquiryFacts(ref, address, name, subject, received, audience, replied, CAROL, None)
        )
        told: list[Event | Post] = list(events)
        if networks:
            told = NETWORK_STORIES.get(subject, told)
        for item in told:
            event, network, link = item if len(item) == 3 else (item, None, None)
            hours, kind, by, rule, evidence, author, helper, flagged = event
            at = received + timedelta(hours=hours)
            signal = SignalEvent(ref, at, kind, by, rule, evidence, author, helper, None, flagged)  # type: ignore[arg-type]
            signals.append(replace(signal, network=network, link=link))
    return inquiries, signals


def example_report_html(lang: str = "en") -> str:
    inquiries, signals = example_data(networks=True)
    report = build_report(
        inquiries,
        signals,
        SUPPRESSED,
        owner_name="Bob Example",
        timezone=TZ,
        window_start=START,
        window_end=END,
        at=END,
    )
    return render(report, "html", language=lang)


def screenshot(html_path: Path, png: Path, width: int = 420, height: int = 1400) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("chromium not found: run scripts/install-browser")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--screenshot={png}",
                f"--window-size={width},{height}",
                html_path.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", action="store_true", help="also write the PNG")
    parser.add_argument("--out", type=Path, default=HERE, help="folder (default: docs/)")
    parser.add_argument("--lang", default="en", help="en (default), de, fr, es or nl")
    args = parser.parse_args()
    name = "example-report" if args.lang == "en" else f"example-report.{args.lang}"
    html_path = args.out / f"{name}.html"
    write_atomic(html_path, example_report_html(args.lang))
    print(f"wrote {html_path}")
    if args.screenshot:
        png = args.out / f"{name}.png"
        screenshot(html_path, png)
        print(f"wrote {png}")


if __name__ == "__main__":
    main()
