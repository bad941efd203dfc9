"""ooo's own mail, the shell side: the report put into the owner's inbox when the away window
ends, and each delegate's daily digest.

The messages and the decisions are pure (:mod:`ooo.core.digest`); this module reads the store,
renders the report, and hands the messages to the mailbox (the report: IMAP APPEND or an Exchange
item, no SMTP) or to the transport (a digest). What has been done is kept in the store's
key/value table, so that a restart, a second ``ooo run --once`` or a crash never delivers
either twice:

- the report, once per away window: the key is marked ``pending`` with the Message-ID before
  the APPEND (a retry reuses the id) and ``delivered`` only once the APPEND succeeded. An APPEND
  that failed is retried at the next run, and ``ooo status`` shows it meanwhile; a run that
  finds the key ``pending`` first looks for that Message-ID in the inbox (a run that stopped
  right after its APPEND), so the report is not put there twice.
- a digest, once per delegate per day: ``sending`` is committed before the transport is called
  and ``sent`` after; a digest found ``sending`` was cut off mid-send and is never sent again
  (as an uncertain reply). A day with nothing open is recorded as ``none`` and sends nothing.
  A transport that is down is tried again after :data:`DIGEST_RETRY`, the same day only.

Nothing here raises for a server's trouble: it is logged and retried; the daemon goes on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import make_msgid

from ooo.app import _delegates, build_owner_report, engine_settings
from ooo.config import Config
from ooo.core.digest import (
    Digest,
    build_digest,
    compose_digest,
    compose_report_message,
    digest_due,
    next_digest_at,
    report_subject,
)
from ooo.core.report import InquiryView, Report, derive
from ooo.core.wording import ENGLISH
from ooo.errors import UserError
from ooo.locale import configured, language
from ooo.mailbox.base import Mailbox, MailboxError
from ooo.report import Format, Language, render
from ooo.store import Store, iso
from ooo.transport.base import Transport, TransportError, TransportRejected

log = logging.getLogger("ooo")

#: The status key (``ooo status``) of a report that is not in the inbox yet.
REPORT_STATUS = "inbox_report"
#: The daemon's waits before trying a failed APPEND of the report again, in seconds.
REPORT_RETRIES = (5.0, 15.0, 40.0)
#: A digest whose transport was down is tried again after this long (the same day).
DIGEST_RETRY = timedelta(minutes=5)


def report_key(cfg: Config) -> str:
    """The key/value entry of this away window's inbox report: a new window, a new report."""
    return f"inbox_report:{cfg.away.start.isoformat()}/{cfg.away.end.isoformat()}"


def report_delivered(cfg: Config, store: Store) -> bool:
    """Whether this window's report is in the owner's inbox already."""
    return (store.meta(report_key(cfg)) or "").startswith("delivered")


def deliver_report(
    cfg: Config,
    store: Store,
    mailbox: Mailbox,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None] | None = None,
) -> bool:
    """Put the away window's report into the owner's inbox, once ([report] to_inbox). True
    when it is there (now or from an earlier run); False when it is off or failed (logged,
    shown by ``ooo status``, tried again at the next run).

    With ``sleep`` (the daemon's, which a stop cuts short) a failed APPEND is tried again
    after each of :data:`REPORT_RETRIES` seconds first: a laptop that wakes up after the window
    ended often has no network for its first seconds."""
    if not cfg.report.to_inbox:
        return False
    key = report_key(cfg)
    state = (store.meta(key) or "").split()
    if state[:1] == ["delivered"]:
        return True
    # Pending from an earlier run: it may have stopped after the APPEND, before recording it.
    earlier = state[:1] == ["pending"] and len(state) > 1
    if earlier:
        message_id = state[1]
    else:
        message_id = make_msgid("ooo-report", domain=_domain(cfg))
        with store.transaction():
            store.set_meta(key, f"pending {message_id}")
    delays = list(REPORT_RETRIES) if sleep is not None else []
    while True:
        now = clock()
        try:
            mailbox.open()
            if not (earlier and mailbox.inbox_holds(message_id)):
                mailbox.append_to_inbox(report_message(cfg, store, message_id, now))
            break
        except (MailboxError, UserError) as exc:
            problem = exc.message if isinstance(exc, UserError) else str(exc)
            with store.transaction():
                store.set_status(REPORT_STATUS, f"not in your inbox yet: {problem}", now)
            if not delays or sleep is None:
                log.warning(
                    "the report could not be put into your inbox (%s); it is tried again at "
                    "the next run (`ooo run --once`), and the files are written as always",
                    problem,
                )
                return False
            delay = delays.pop(0)
            log.info(
                "the report could not be put into your inbox (%s); again in %.0f s", problem, delay
            )
            sleep(delay)
    with store.transaction():
        store.set_meta(key, f"delivered {iso(now)} {message_id}")
        store.clear_status(REPORT_STATUS)
        store.event("inbox_report", now, message_id=message_id)
    log.info("the report is in your inbox (%s)", message_id)
    return True


def report_message(cfg: Config, store: Store, message_id: str, now: datetime) -> bytes:
    """The window's report as a message for the owner's inbox (text, with HTML beside it)."""
    report = build_owner_report(cfg, store)
    lang = language(configured(cfg))  # [report] language, else the replies' default
    message = compose_report_message(
        subject=report_subject(report, lang),
        text=_render(cfg, report, "text", lang),
        html=_render(cfg, report, "html", lang),
        owner_name=cfg.owner.name,
        owner_address=cfg.owner.addresses[0],
        message_id=message_id,
        now=now,
    )
    return message.as_bytes()


def _render(cfg: Config, report: Report, fmt: Format, lang: Language) -> str:
    try:
        return render(report, fmt, template_dir=cfg.templates.dir, language=lang)
    except UserError as exc:
        # The owner's report template broke: the report still goes out, with ours.
        log.error("%s; the report in your inbox uses the shipped template", exc.message)
        return render(report, fmt, language=lang)


def _domain(cfg: Config) -> str:
    return cfg.owner.addresses[0].rpartition("@")[2]


# -- the delegates' daily digest ----------------------------------------------------------------


@dataclass(frozen=True)
class DigestState:
    """What was done about one delegate's digest, as stored."""

    day: date
    state: str
    """none (nothing open), sending, sent, failed (transport down: retried), rejected."""
    at: datetime
    message_id: str | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        """This day's digest needs nothing more (a ``sending`` one may have left: never
        again)."""
        return self.state != "failed"

    def to_json(self) -> str:
        return json.dumps(
            {
                "day": self.day.isoformat(),
                "state": self.state,
                "at": iso(self.at),
                "message_id": self.message_id,
                "error": self.error,
            }
        )

    @classmethod
    def from_json(cls, text: str | None) -> DigestState | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(
                day=date.fromisoformat(data["day"]),
                state=str(data["state"]),
                at=datetime.fromisoformat(data["at"]),
                message_id=data.get("message_id"),
                error=data.get("error"),
            )
        except (ValueError, KeyError, TypeError):
            return None  # unreadable: as if nothing had been sent


def digest_key(email: str) -> str:
    return f"digest:{email.lower()}"


def _wanted(cfg: Config, now: datetime) -> bool:
    d = cfg.delegate
    return d is not None and d.digest == "daily" and cfg.away.start <= now < cfg.away.end


def send_digests(cfg: Config, store: Store, transport: Transport, now: datetime) -> int:
    """Send each delegate's digest if it is due (``[delegate] digest = "daily"``, inside the
    away window); return how many went out. Never raises for the transport's trouble."""
    if not _wanted(cfg, now):
        return 0
    assert cfg.delegate is not None
    tz, hour = cfg.owner.tz, cfg.delegate.digest_hour
    views: list[InquiryView] | None = None
    lang: Language = ENGLISH
    sent = 0
    for person in _delegates(cfg):
        key = digest_key(person.email)
        last = DigestState.from_json(store.meta(key))
        if last is not None and not last.done and now < last.at + DIGEST_RETRY:
            continue
        day = digest_due(now, tz, hour, last.day if last is not None and last.done else None)
        if day is None:
            continue
        if views is None:
            # The report's language: the delegate reads the digest beside the owner's report.
            lang = language(configured(cfg))
            views = [
                v
                for v in derive(store.inquiry_facts(), store.signal_events(), now, timezone=tz)
                if v.received_at >= cfg.away.start
            ]
        digest = build_digest(
            views,
            delegate_name=person.name,
            delegate_email=person.email,
            now=now,
            tz=tz,
            lang=lang,
        )
        if not digest.items:
            with store.transaction():
                store.set_meta(key, DigestState(day, "none", now).to_json())
            continue
        if _send(cfg, store, transport, now, digest, key, lang):
            sent += 1
    return sent


def _send(
    cfg: Config,
    store: Store,
    transport: Transport,
    now: datetime,
    digest: Digest,
    key: str,
    lang: Language,
) -> bool:
    owner = cfg.owner.addresses[0]
    message_id = make_msgid("ooo-digest", domain=_domain(cfg))
    raw = compose_digest(
        digest,
        owner_name=cfg.owner.name,
        owner_address=owner,
        back=cfg.away.end,
        tz=cfg.owner.tz,
        message_id=message_id,
        now=now,
        lang=lang,
    ).as_bytes()
    with store.transaction():
        store.set_meta(key, DigestState(digest.day, "sending", now, message_id).to_json())
    envelope = "" if engine_settings(cfg).null_envelope else owner
    try:
        transport.send(raw, envelope, [digest.delegate_email])
    except TransportError as exc:
        state = "rejected" if isinstance(exc, TransportRejected) else "failed"
        log.warning("the digest for %s was not sent: %s", digest.delegate_email, exc)
        with store.transaction():
            store.set_meta(
                key, DigestState(digest.day, state, now, message_id, str(exc)[:300]).to_json()
            )
        return False
    with store.transaction():
        store.set_meta(key, DigestState(digest.day, "sent", now, message_id).to_json())
        store.event(
            "digest_sent",
            now,
            delegate=digest.delegate_email,
            inquiries=[i.ref for i in digest.items],
            message_id=message_id,
        )
    log.info("sent %s their digest: %d open inquiries", digest.delegate_email, len(digest.items))
    return True


def next_digest(cfg: Config, store: Store, now: datetime) -> datetime | None:
    """When a digest may next fall due (for the daemon's wait), or None when there is none."""
    if not _wanted(cfg, now):
        return None
    assert cfg.delegate is not None
    moments = []
    for person in _delegates(cfg):
        last = DigestState.from_json(store.meta(digest_key(person.email)))
        if last is not None and not last.done:
            moments.append(max(now, last.at + DIGEST_RETRY))
            continue
        done = last.day if last is not None else None
        moments.append(next_digest_at(now, cfg.owner.tz, cfg.delegate.digest_hour, done))
    return min(moments, default=None)
