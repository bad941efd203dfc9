"""The composition root: everything that turns a config into a running responder.

The CLI, the daemon, the demo, preview and the service all build what they need here: the
state directory and the files in it (named once, below), the store, the engine's settings, the
audience router, the mailbox and the transport (through their factories), the template check,
and the owner's report. Nothing else in ooo reads a Config to build an object.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ooo import mailbox as mailboxes
from ooo import transport as transports
from ooo.config import Config, Person
from ooo.core.compose import ReplySettings, context_for
from ooo.core.parse import Inbound, parse
from ooo.core.policy import Decision, Owner, Reason
from ooo.core.routing import Routing, route
from ooo.detector import make_detector
from ooo.engine import EngineSettings
from ooo.errors import UserError
from ooo.host.files import write_atomic
from ooo.host.secrets import network_secret, password_provider, session_vault
from ooo.mailbox.base import Mailbox
from ooo.report import SUFFIXES, Report, build_report, render
from ooo.store import Store
from ooo.templating import Renderer
from ooo.transport.base import Transport

if TYPE_CHECKING:
    from ooo.core.network import NetworkEntry
    from ooo.handoff.supervisor import Supervisor
    from ooo.networks.runner import NetworkRunner, RunnerSettings, Watch

log = logging.getLogger("ooo")

#: The files of one responder's state directory.
STATE_DB = "state.db"
EVENT_LOG = "events.jsonl"
REPORT_NAME = "report"
"""The end-of-window reports: report.html and report.json."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def state_dir(cfg: Config) -> Path:
    if cfg.state.dir:
        return cfg.state.dir.expanduser()
    import platformdirs

    return Path(platformdirs.user_state_dir("ooo"))


def state_db(cfg: Config) -> Path:
    return state_dir(cfg) / STATE_DB


def open_store(cfg: Config) -> Store:
    directory = state_dir(cfg)
    return Store(directory / STATE_DB, event_log=directory / EVENT_LOG)


def engine_settings(cfg: Config) -> EngineSettings:
    return EngineSettings(
        owner=Owner(tuple(cfg.owner.addresses)),
        reply=ReplySettings(
            owner_name=cfg.owner.name,
            timezone=cfg.owner.tz,
            away_start=cfg.away.start,
            away_end=cfg.away.end,
            subject_prefix=cfg.away.subject_prefix,
            share_subject=cfg.reply.share_subject,
            languages=tuple(cfg.reply.languages),
            bilingual=tuple(cfg.reply.bilingual),
            detect=make_detector(cfg.reply.languages),
        ),
        window_start=cfg.away.start,
        window_end=cfg.away.end,
        interval=cfg.away.reply_interval,
        mailbox_id=mailboxes.mailbox_id(cfg.mailbox),
        # Exchange sends from the mailbox itself (no null envelope) and keeps its own Sent copy.
        null_envelope=cfg.smtp is not None and cfg.smtp.envelope_sender == "null",
        sent_folder=cfg.mailbox.sent_folder if cfg.smtp is not None else None,
        batch_size=cfg.limits.batch_size,
        max_replies_per_hour=cfg.limits.max_replies_per_hour,
        retry_first=cfg.limits.retry_first,
        authserv_id=cfg.mailbox.authserv_id,
        invitations=cfg.calendar.invitations,
        delegate_emails=tuple(p.email for p in _delegates(cfg)),
        delegate_names=tuple(n for p in _delegates(cfg) for n in (p.name, p.email, p.handle) if n),
        network_names=tuple(
            dict.fromkeys(n for e in cfg.network for n in (e.handle, e.label, e.display) if n)
        ),
    )


def _delegates(cfg: Config) -> list[Person]:
    """Every delegate the config names: [delegate], per audience, per route."""
    found: list[Person] = [cfg.delegate] if cfg.delegate else []
    found += [d for a in ("internal", "external", "vip") if (d := getattr(cfg.reply, a).delegate)]
    found += [r.delegate for r in cfg.route if r.delegate]
    return list({p.email: p for p in found}.values())


_ADDRESS_IN_TEXT = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def read_contacts(path: Path) -> set[str]:
    """Every address in a contacts file: one per line, a CSV export or a vCard file alike."""
    try:
        text = path.expanduser().read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UserError(
            f"cannot read audiences.contacts_file {path}: {exc.strerror or exc}",
            advice="fix the path, or remove contacts_file from [audiences]",
        ) from exc
    lines = (line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return {m.lower() for line in lines for m in _ADDRESS_IN_TEXT.findall(line)}


def known_senders(cfg: Config, mailbox: Mailbox) -> frozenset[str]:
    """Who counts as "known" for external_replies = "known": contacts plus everyone the owner
    has written to (the recipients in the Sent folder)."""
    known: set[str] = set()
    if cfg.audiences.contacts_file:
        known |= read_contacts(cfg.audiences.contacts_file)
    sent = mailbox.correspondents(cfg.audiences.sent_folder)
    log.info(
        "known senders: %d from the %r folder, %d in all",
        len(sent),
        cfg.audiences.sent_folder,
        len(known | sent),
    )
    return frozenset(known | sent)


def make_router(
    cfg: Config, known: Callable[[], frozenset[str]]
) -> Callable[[Inbound, str], Routing]:
    def router(msg: Inbound, sender: str) -> Routing:
        return route(msg, sender, cfg, known())

    return router


def check_templates(cfg: Config, renderer: Renderer) -> list[str]:
    """Render every template the config can pick, for a made-up inquiry routed through the
    real config (a template that only breaks with a delegate or network entries breaks here,
    not at the first real reply). Raises UserError naming the template; returns their names."""
    settings = engine_settings(cfg)
    msg = parse("check", b"From: Sam Sample <sam@example.org>\r\nSubject: A question\r\n\r\n")
    decision = Decision(
        Reason.REPLY, owner_address=cfg.owner.addresses[0], recipient="sam@example.org"
    )
    routing = make_router(cfg, frozenset)(msg, "sam@example.org")
    context = context_for(msg, decision, settings.reply, routing, ref="OOO-CHECK1")
    return renderer.check(context, template_bases(cfg), cfg.reply.languages)


def template_bases(cfg: Config) -> tuple[str, ...]:
    """Every template base name the config can pick."""
    bases = ["reply"]
    bases += [getattr(cfg.reply, a).template for a in ("internal", "external", "vip")]
    bases += [r.template for r in cfg.route if r.template]
    return tuple(dict.fromkeys(bases))


def build_owner_report(cfg: Config, store: Store, at: datetime | None = None) -> Report:
    return build_report(
        store.inquiry_facts(),
        store.signal_events(),
        store.suppressed_counts(),
        owner_name=cfg.owner.name,
        timezone=cfg.owner.tz,
        window_start=cfg.away.start,
        window_end=cfg.away.end,
        at=at or cfg.away.end,
        generated_at=utcnow(),
        server_periods=store.server_period_facts(),
    )


def write_reports(cfg: Config, store: Store) -> list[Path]:
    """The end-of-window reports, in the state dir: HTML for reading, JSON for tools, in the
    report's language ([report] language, else the replies' default: ooo.locale.configured)."""
    from ooo.locale import configured

    report = build_owner_report(cfg, store)
    lang = configured(cfg)
    written = []
    for fmt in ("html", "json"):
        path = state_dir(cfg) / f"{REPORT_NAME}{SUFFIXES[fmt]}"
        try:
            text = render(report, fmt, template_dir=cfg.templates.dir, language=lang)
        except UserError as exc:
            # The owner's report template broke: the report still gets written, with ours.
            log.error("%s; writing %s with the shipped template", exc.message, path.name)
            text = render(report, fmt, language=lang)
        write_atomic(path, text)
        written.append(path)
    return written


def watched_entries(cfg: Config) -> list[NetworkEntry]:
    return [e for e in cfg.network if e.watch]


def make_watches(cfg: Config) -> list[Watch]:
    """One Watch per watched ``[[network]]`` entry: its watcher (signed in with the entry's
    secret, its session kept in the state dir), its interval, and its room notices."""
    from ooo import locale, networks
    from ooo.networks.runner import Ask, Watch

    watches = []
    colleagues = None
    for entry in watched_entries(cfg):
        watcher = networks.create(
            entry, network_secret(entry), session_vault(entry, state_dir(cfg))
        )
        ask = None
        if entry.ask:
            # A team room: the owner's colleagues read it, in the report's language.
            colleagues = colleagues or locale.language(locale.configured(cfg))
            ask = Ask(
                frozenset(entry.ask),
                cfg.owner.name,
                share_subject=cfg.reply.share_subject,
                share_sender=entry.share_sender,
                lang=colleagues,
            )
        watches.append(
            Watch(
                watcher,
                interval=entry.poll_interval.total_seconds(),
                ask=ask,
                audiences=_WATCH_AUDIENCES[entry.audience],
            )
        )
    return watches


# Whose inquiries a watcher looks for by tag: those who see the entry (a VIP may be either).
_WATCH_AUDIENCES: dict[str, frozenset[str] | None] = {
    "all": None,
    "internal": frozenset({"internal", "vip"}),
    "external": frozenset({"external", "vip"}),
}


def runner_settings(cfg: Config) -> RunnerSettings:
    from ooo.networks.runner import RunnerSettings

    settings = engine_settings(cfg)
    own = tuple(e.handle for e in cfg.network if e.handle and e.kind in ("mastodon", "bluesky"))
    intervals = [e.poll_interval.total_seconds() for e in watched_entries(cfg)]
    return RunnerSettings(
        window_start=cfg.away.start,
        delegate_names=settings.delegate_names,
        own=own,
        # A watcher polled more often than every 30 s backs off from its own interval.
        backoff_first=min([30.0, *intervals]),
    )


def make_network_runner(cfg: Config, store_path: Path | None = None) -> NetworkRunner | None:
    """The watchers of the config's watched entries, in their own threads (None: nothing is
    watched). Each thread opens its own connection to the state database."""
    watches = make_watches(cfg)
    if not watches:
        return None
    from ooo.networks.runner import NetworkRunner

    directory = state_dir(cfg)
    return NetworkRunner(
        watches,
        runner_settings(cfg),
        store_path=store_path or directory / STATE_DB,
        event_log=directory / EVENT_LOG,
    )


def poll_networks_once(cfg: Config, store: Store) -> None:
    """One poll of every watched network on this thread (``ooo run --once``)."""
    from ooo.networks.runner import WatchLoop

    settings = runner_settings(cfg)
    for watch in make_watches(cfg):
        try:
            result = WatchLoop(watch, store, settings).poll()
            if result.error:
                log.warning("%s: %s", watch.watcher.name, result.error)
        finally:
            watch.watcher.close()


def make_handoff(
    cfg: Config, renderer: Renderer, store: Store, clock: Callable[[], datetime]
) -> Supervisor:
    """The handoff ``[handoff]`` asks for, driven for the daemon (method "none": a supervisor
    that does nothing). The last run's state comes from the store."""
    from ooo import handoff
    from ooo.handoff.base import HandoffState
    from ooo.handoff.supervisor import STATUS_KEY, Supervisor

    saved = store.status().get(STATUS_KEY)
    previous = HandoffState.from_json(saved[0]) if saved else None
    return Supervisor(
        handoff.create(cfg, renderer, clock, previous),
        store,
        clock,
        lease=cfg.handoff.lease,
        window_start=cfg.away.start,
    )


def make_mailbox(cfg: Config) -> Mailbox:
    return mailboxes.create(cfg.mailbox, password_provider("mailbox", cfg.mailbox))


def make_transport(cfg: Config) -> Transport:
    return transports.create(cfg, password_provider)
