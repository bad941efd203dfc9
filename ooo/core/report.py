"""The post-vacation report as data: which inquiries were resolved while the owner was away,
by whom, and which still need them.

Pure: no clock, no I/O; ``at``, the moment the statuses describe, is passed in.

- :func:`derive` folds the stored signals of each inquiry into its status at a moment ``at``.
  The status is never stored; this function is the only place that decides it. Signals from
  email and from posts on the owner's networks are one story, oldest first; an inquiry a post
  resolved for the network knows where and by whom (:class:`NetworkAnswer`).
- :func:`build_report` turns inquiries, signals and the counts of suppressed messages into a
  :class:`Report`: the inquiries in reading order (open ones first, VIPs and flagged ones at the
  top, oldest first; then resolved ones, oldest first), a summary and counts per day.

The renderers (one per output format) are in :mod:`ooo.report`; the words and times they use
in :mod:`ooo.core.wording`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from operator import attrgetter
from typing import Literal
from zoneinfo import ZoneInfo

from ooo.core.policy import Reason
from ooo.core.tracking import InquiryFacts, ResolvedBy, ServerPeriod, SignalEvent
from ooo.core.wording import RESOLVERS, describe_arrival, describe_event, safe_link

__all__ = [
    "OUTCOMES",
    "RESOLVERS",
    "DayCounts",
    "InquiryView",
    "NetworkAnswer",
    "Report",
    "Status",
    "Summary",
    "build_report",
    "derive",
]

Status = Literal["open", "resolved"]

_NETWORK = attrgetter("network")

# A ``resolved`` signal names who resolved it; should one ever come without, the rule says.
_BY_RULE: dict[str, ResolvedBy] = {
    "delegate_answered": "delegate",
    "network_answered": "network",
    "owner_resolved": "owner",
}


@dataclass(frozen=True)
class NetworkAnswer:
    """Where and by whom the owner's network answered an inquiry that a post resolved: "@ana@
    hachyderm.io answered on Mastodon (link), 3 h after the question"."""

    network: str
    """The kind of network ("mastodon", "bluesky", "matrix")."""
    helper: str | None
    """Who answered (a handle there)."""
    link: str | None
    """The answer's web link (the helper's own post when it is in the story, else the post
    that resolved it), only when it is a plain http(s) URL."""
    at: datetime
    """When that post was written."""


@dataclass(frozen=True, kw_only=True)
class InquiryView(InquiryFacts):
    """One inquiry, its facts as recorded, with its status derived at a moment (see
    :func:`derive`)."""

    vip: bool
    status: Status
    flagged: bool
    """The sender said it is urgent (and nobody resolved it since)."""
    resolved_by: ResolvedBy | None
    resolved_at: datetime | None
    evidence: str | None
    """The sentence that resolved it (or the owner's note)."""
    helper: str | None
    """Who helped, as the sender named them."""
    last_event: str
    """The last thing that happened, in words, with its time in the owner's time zone."""
    time_to_resolve: timedelta | None
    unverified: int = 0
    """Signals not counted because the owner's server said their message failed its sender
    checks (a forged From, a third party posing as the asker's correspondent)."""
    answer: NetworkAnswer | None = None
    """Resolved by the network through a post: where, by whom, the link (None otherwise)."""
    story: tuple[SignalEvent, ...] = ()
    """Every signal up to the moment of the view, email and network merged, oldest first
    (``last_event`` says the last one)."""
    from_network: bool = False
    """Something in its story happened on the owner's network (a post)."""


@dataclass(frozen=True)
class Summary:
    total: int
    resolved: int
    resolved_by_sender: int
    resolved_by_delegate: int
    resolved_by_network: int
    resolved_by_owner: int
    open: int
    flagged: int

    def resolved_by(self, by: ResolvedBy) -> int:
        count: int = getattr(self, f"resolved_by_{by}")
        return count


@dataclass(frozen=True)
class DayCounts:
    """The inquiries received on one day, by what became of them."""

    open: int = 0
    resolved_by_network: int = 0
    resolved_by_delegate: int = 0
    resolved_by_sender: int = 0
    resolved_by_owner: int = 0

    @property
    def total(self) -> int:
        return (
            self.open
            + self.resolved_by_network
            + self.resolved_by_delegate
            + self.resolved_by_sender
            + self.resolved_by_owner
        )


# Bottom to top in the chart's stacks: what still needs the owner sits on the axis.
OUTCOMES: tuple[str, ...] = (
    "open",
    "resolved_by_network",
    "resolved_by_delegate",
    "resolved_by_sender",
    "resolved_by_owner",
)


@dataclass(frozen=True)
class Report:
    owner_name: str
    timezone: ZoneInfo
    window_start: datetime
    window_end: datetime
    at: datetime
    """The moment the statuses describe: the end of the away window unless asked otherwise."""
    generated_at: datetime
    inquiries: list[InquiryView]
    """Open first (VIPs and flagged at the top, then oldest first), then resolved, oldest
    first."""
    summary: Summary
    suppressed: dict[str, int]
    """Reason code (:class:`ooo.core.policy.Reason`) -> number of messages, most frequent first."""
    per_day: list[tuple[date, DayCounts]]
    """Every day of the window (and any day with an inquiry) in the owner's time zone."""
    server_periods: tuple[ServerPeriod, ...] = ()
    """When the mail server answered in ooo's place ([handoff]), oldest first."""

    @property
    def open(self) -> list[InquiryView]:
        return [v for v in self.inquiries if v.status == "open"]

    @property
    def resolved(self) -> list[InquiryView]:
        return [v for v in self.inquiries if v.status == "resolved"]

    @property
    def suppressed_total(self) -> int:
        return sum(self.suppressed.values())

    @property
    def returned(self) -> bool:
        """The report describes the end of the away window (not a moment during it)."""
        return self.at >= self.window_end


# --------------------------------------------------------------------------- deriving


def derive(
    inquiries: Sequence[InquiryFacts],
    signals: Sequence[SignalEvent],
    at: datetime,
    *,
    timezone: tzinfo | None = None,
) -> list[InquiryView]:
    """The status of each inquiry at ``at``, from its signals alone, in input order.

    Signals are applied in time order (signals at the same moment in the order given); those
    after ``at`` and those of unknown inquiries are ignored, and so are inquiries received after
    ``at``. ``resolved`` makes an inquiry resolved (by whom, when, the evidence, the helper);
    ``open`` makes it open again, flagged when the signal is (and still flagged if it already
    was and nothing resolved it in between: "still need this" after "urgent" is no less urgent);
    ``reopened`` (the owner) makes it open and not flagged. No signal: open. ``timezone`` is
    the one the times in ``last_event`` are written in (default: that of ``at``).

    Signals from posts (``network`` set) take part like email ones. When one resolves it for
    the network, the view's ``answer`` says where and by whom; a sender who then says by email
    that it is resolved, naming nobody, confirms that answer (the network keeps the credit, as
    when the asker thanks the helper on the network).
    """
    _require_aware(at, "at")
    tz = timezone or at.tzinfo
    by_ref: dict[str, list[SignalEvent]] = defaultdict(list)
    for signal in signals:
        if signal.at <= at:
            by_ref[signal.ref].append(signal)
    for events in by_ref.values():
        events.sort(key=attrgetter("at"))  # stable: ties keep the stored order

    views: list[InquiryView] = []
    for inquiry in inquiries:
        if inquiry.received_at > at:
            continue
        views.append(_fold(inquiry, by_ref.get(inquiry.ref, ()), tz))
    return views


def _fold(inquiry: InquiryFacts, events: Sequence[SignalEvent], tz: tzinfo | None) -> InquiryView:
    status: Status = "open"
    flagged = False
    resolved_by: ResolvedBy | None = None
    resolved_at: datetime | None = None
    evidence: str | None = None
    helper: str | None = None
    answer: NetworkAnswer | None = None
    for event in events:
        if event.unverified:
            continue  # shown (last_event), never applied: the server says it was forged
        if event.kind == "resolved":
            if answer is not None and _confirms(event):
                resolved_at = event.at
                evidence = event.evidence.strip() or evidence
                continue
            status, flagged = "resolved", False
            resolved_by = event.by or _BY_RULE.get(event.rule, "sender")
            resolved_at = event.at
            evidence = event.evidence.strip() or None
            helper = event.helper or None
            answer = _answer(event, events) if resolved_by == "network" else None
        else:
            if event.kind == "open":
                flagged = event.flagged or (status == "open" and flagged)
            else:  # reopened by the owner: back to the pile, no longer urgent
                flagged = False
            status = "open"
            resolved_by = resolved_at = evidence = helper = answer = None
    last = events[-1] if events else None
    return InquiryView(
        ref=inquiry.ref,
        sender=inquiry.sender,
        from_name=inquiry.from_name,
        subject=inquiry.subject,
        received_at=inquiry.received_at,
        audience=inquiry.audience,
        replied=inquiry.replied,
        delegate=inquiry.delegate,
        message_id=inquiry.message_id,
        answered_by_server=inquiry.answered_by_server,
        vip=inquiry.audience == "vip",
        status=status,
        flagged=flagged,
        resolved_by=resolved_by,
        resolved_at=resolved_at,
        evidence=evidence,
        helper=helper,
        last_event=describe_event(last, tz) if last else describe_arrival(inquiry),
        time_to_resolve=resolved_at - inquiry.received_at if resolved_at else None,
        unverified=sum(1 for e in events if e.unverified),
        answer=answer,
        story=tuple(events),
        from_network=any(map(_NETWORK, events)),
    )


def _confirms(event: SignalEvent) -> bool:
    """The sender says by email that it is resolved and names nobody: after an answer from
    the network, that confirms the answer."""
    by = event.by or _BY_RULE.get(event.rule, "sender")
    return event.network is None and by == "sender" and not event.helper


def _answer(event: SignalEvent, events: Sequence[SignalEvent]) -> NetworkAnswer | None:
    """Where and by whom a post resolved an inquiry for the network: the helper's own answer
    when it is in the story (the asker's "thanks, that solved it" names the helper and
    resolves it, the answer is the helper's post), else the post itself."""
    if event.network is None:
        return None
    helper = event.helper or event.author
    who = _handle(helper)
    own = next(
        (
            e
            for e in reversed(events)
            if e.at <= event.at
            and e.network == event.network
            and e.link
            and not e.unverified
            and who
            and _handle(e.author) == who
        ),
        event,
    )
    return NetworkAnswer(event.network, helper, safe_link(own.link), own.at)


def _handle(handle: str | None) -> str:
    return (handle or "").strip().lstrip("@").lower()


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {moment!r}")


# --------------------------------------------------------------------------- the report


def _order_key(view: InquiryView) -> tuple[int, int, datetime, str]:
    if view.status == "open":
        return (0, 0 if view.vip or view.flagged else 1, view.received_at, view.ref)
    return (1, 0, view.received_at, view.ref)


def build_report(
    inquiries: Sequence[InquiryFacts],
    signals: Sequence[SignalEvent],
    suppressed: Mapping[str, int],
    *,
    owner_name: str,
    timezone: ZoneInfo,
    window_start: datetime,
    window_end: datetime,
    at: datetime,
    generated_at: datetime | None = None,
    server_periods: Sequence[ServerPeriod] = (),
) -> Report:
    """The report at ``at`` (normally the end of the away window).

    ``suppressed`` counts the messages that were not inquiries, by reason code; a ``reply``
    entry (answered inquiries) and zero counts are left out. ``generated_at`` defaults to
    ``at`` so that the same inputs always give the same report.
    """
    for moment, name in ((window_start, "window_start"), (window_end, "window_end")):
        _require_aware(moment, name)
    views = sorted(derive(inquiries, signals, at, timezone=timezone), key=_order_key)

    resolved_counts = dict.fromkeys(RESOLVERS, 0)
    open_count = flagged_count = 0
    for view in views:
        if view.resolved_by is not None:
            resolved_counts[view.resolved_by] += 1
        else:
            open_count += 1
            flagged_count += view.flagged
    summary = Summary(
        total=len(views),
        resolved=len(views) - open_count,
        resolved_by_sender=resolved_counts["sender"],
        resolved_by_delegate=resolved_counts["delegate"],
        resolved_by_network=resolved_counts["network"],
        resolved_by_owner=resolved_counts["owner"],
        open=open_count,
        flagged=flagged_count,
    )
    kept = [(code, n) for code, n in suppressed.items() if n > 0 and code != Reason.REPLY]
    kept.sort(key=lambda item: (-item[1], item[0]))
    return Report(
        owner_name=owner_name,
        timezone=timezone,
        window_start=window_start,
        window_end=window_end,
        at=at,
        generated_at=generated_at or at,
        inquiries=views,
        summary=summary,
        suppressed=dict(kept),
        per_day=per_day(views, timezone, window_start, min(window_end, at)),
        server_periods=tuple(p for p in server_periods if p.start <= at),
    )


def per_day(
    views: Sequence[InquiryView], tz: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[date, DayCounts]]:
    """Each inquiry counted once, on the day it arrived in ``tz``, under what became of it;
    every day from ``start`` to ``end`` is there, empty ones too."""
    buckets: dict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    for view in views:
        outcome = f"resolved_by_{view.resolved_by}" if view.resolved_by else "open"
        buckets[view.received_at.astimezone(tz).date()][outcome] += 1
    first = start.astimezone(tz).date()
    # The window's end is exclusive: an away window ending at midnight does not show that day.
    last = max(first, (end - timedelta(microseconds=1)).astimezone(tz).date())
    if buckets:
        first, last = min(first, *buckets), max(last, *buckets)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [(d, DayCounts(**buckets[d]) if d in buckets else DayCounts()) for d in days]
