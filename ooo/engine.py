"""The engine: mailbox -> parse -> decide -> compose -> outbox -> transport, with the store in
the middle. It knows the Mailbox and Transport interfaces, never a mail library.

One call of :meth:`Engine.sync` reads everything after the stored cursor, decides each message
once (the decision and any queued reply are committed together), advances the cursor, and
sends what is due. Sending is streamed: a reply is taken from the outbox as soon as its
decision is committed, not after the batch, and when the transport offers several sessions
(``Transport.concurrent_sends``) up to that many sends run on worker threads while the next
messages are decided. Only the engine's thread touches the store and the mailbox: each reply
is marked ``sending`` (committed) before its SMTP transaction starts, and its outcome is
committed when it comes back. Restart safety comes from the store (see ``ooo.store``): a
replayed batch is recognised message by message, and a reply is sent only from the outbox.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import Literal

from ooo import locale
from ooo.core.authres import verdict
from ooo.core.backoff import backoff
from ooo.core.compose import ReplySettings, compose_forward, reply_bytes, reply_language
from ooo.core.itip import compose_answer
from ooo.core.parse import Inbound, parse
from ooo.core.policy import (
    AUTOMATED,
    INQUIRY,
    MEETING_ANSWER,
    MEETING_ANSWERS,
    Decision,
    InvitationMode,
    Invitations,
    Owner,
    Reason,
    decide,
)
from ooo.core.refs import find_refs, new_ref
from ooo.core.resolve import Role, Signal, classify
from ooo.core.routing import Routing
from ooo.core.sieve import SERVER_KEYWORD
from ooo.core.wording import ENGLISH, Language
from ooo.errors import UserError
from ooo.host.threads import child_name
from ooo.mailbox.base import CursorInvalid, FetchedMessage, Mailbox, MailboxError
from ooo.store import MessageRecord, OutboxItem, Store, TagTask, iso
from ooo.templating import Renderer
from ooo.transport.base import (
    Transport,
    TransportRejected,
    TransportUnavailable,
)

log = logging.getLogger("ooo")

TAG_REPLIED = "$OooReplied"
TAG_SKIPPED = "$OooSkipped"
TAG_OPEN = "$OooOpen"
TAG_RESOLVED = "$OooResolved"
#: Outbox retry delays: 15 s doubling up to 15 min, with jitter so a fleet does not stampede.
RETRY_FIRST = 15.0
RETRY_CAP = 900.0
#: References read from one message: enough for a real thread, too few for a guessing attack.
REFS_CONSIDERED = 3
#: Replies taken from the outbox at once when sending from the engine's own thread.
SEND_CHUNK = 100
#: Messages in the first fetch of a pass ([limits] batch_size for the following ones).
FIRST_BATCH = 10
#: Replies tagged (and copied to Sent) together during a long pass; the rest at its end (with
#: Engine.defer_after_send: at the next pass that reads no mail, or once this many wait) ...
AFTER_SEND_EVERY = 500
#: ... or once the oldest of them was sent this long ago (mail that keeps trickling in does
#: not hold the Sent copies back for long).
AFTER_SEND_WITHIN = timedelta(seconds=30)


def retry_delay(
    attempts: int, rng: Callable[[], float] = random.random, first: float = RETRY_FIRST
) -> timedelta:
    return timedelta(seconds=backoff(attempts, first, RETRY_CAP, rng))


@dataclass(frozen=True)
class EngineSettings:
    owner: Owner
    reply: ReplySettings
    window_start: datetime
    window_end: datetime
    interval: timedelta
    mailbox_id: str
    """Names the watched folder in the store ("imap:bob@host:993/INBOX")."""
    null_envelope: bool = True
    sent_folder: str | None = None
    batch_size: int = 100
    delegate_emails: tuple[str, ...] = ()
    """Every delegate the config names: their mail in a thread resolves it "by delegate"."""
    delegate_names: tuple[str, ...] = ()
    network_names: tuple[str, ...] = ()
    """Handles and labels of the network entries, to recognise "X helped me"."""
    max_replies_per_hour: int = 120
    """The flood valve: past this many replies queued in the last hour, inquiries are tracked
    but not answered (Reason.RATE_LIMITED). 0: no limit."""
    retry_first: timedelta = timedelta(seconds=RETRY_FIRST)
    """The first outbox retry delay ([limits] retry_first); it doubles up to RETRY_CAP."""
    authserv_id: str | None = None
    """Whose Authentication-Results to trust ([mailbox] authserv_id); None: the topmost."""
    invitations: InvitationMode = "reply"
    """[calendar] invitations: "decline"/"tentative" answer an invitation inside the window
    with an iTIP reply (ooo.core.itip); "ignore" tracks it unanswered; "reply": plain mail."""


@dataclass
class Outcome:
    """What one message came to: for logs, the demo and preview."""

    message: Inbound
    decision: Decision
    reply: bytes | None = None
    routing: Routing | None = None
    ref: str | None = None


@dataclass(frozen=True)
class Link:
    """How a message was found to follow up an inquiry."""

    ref: str
    via: Literal["thread", "reference", "subject"]


@dataclass(frozen=True)
class Queued:
    """A message to send, composed but not yet committed to the outbox."""

    kind: str
    recipient: str
    message_id: str
    raw: bytes
    cc: tuple[str, ...] = ()


@dataclass
class Engine:
    settings: EngineSettings
    mailbox: Mailbox
    transport: Transport
    store: Store
    renderer: Renderer
    clock: Callable[[], datetime]
    dry_run: bool = False
    on_outcome: Callable[[Outcome], None] | None = None
    router: Callable[[Inbound, str], Routing] | None = None
    """Audience/delegate routing (ooo.core.routing.route bound to the config); None: plain
    replies."""
    server_since: datetime | None = None
    """While the mail server stands in for ooo without marking what it answers (Exchange's
    automatic replies): the moment it took over. A message received since is its to answer."""
    _epoch: int = field(default=0, init=False)
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    _inflight: dict[Future[dict[str, str]], OutboxItem] = field(
        default_factory=dict, init=False, repr=False
    )
    """Sends under way on the pool's threads: their rows are in state ``sending``."""
    _replied: list[tuple[str, bytes]] = field(default_factory=list, init=False, repr=False)
    """Replies sent since the last tagging and Sent copy: (message key, raw)."""
    defer_after_send: bool = field(default=False, init=False)
    """Keep the tagging and Sent copies of a pass that read mail for a quiet moment (the
    daemon sets this, and calls :meth:`after_send` when it stops): while a burst is still
    arriving, that work holds up the next decisions (a thousand Sent copies kept the engine's
    thread in APPEND for 1.8 s of a 9.5 s burst). A pass that reads no mail does it, and so
    does any pass once ``AFTER_SEND_EVERY`` replies or ``AFTER_SEND_WITHIN`` have gone by."""
    _quiet: bool = field(default=True, init=False, repr=False)
    """The last pass read no mail."""
    _replied_since: datetime | None = field(default=None, init=False, repr=False)
    """When the oldest reply still waiting for its tagging and Sent copy was sent."""
    _halted: bool = field(default=False, init=False, repr=False)
    """The transport said it is unavailable: start no more sends in this pass."""
    _sent: int = field(default=0, init=False, repr=False)

    # -- start-up ---------------------------------------------------------------------------

    def recover(self) -> int:
        """Replies cut off mid-send by a crash may have left: never send them again, say so."""
        now = self.clock()
        rows = self.store.interrupted_sends()
        with self.store.transaction():
            for row in rows:
                self.store.set_reply_state(
                    row.id,
                    "uncertain",
                    now,
                    error="ooo stopped during the SMTP transaction; the reply may or may not "
                    "have been delivered, so it is not sent again",
                )
                self.store.event(
                    "reply_uncertain",
                    now,
                    reply_id=row.id,
                    to=row.recipient,
                    reply_message_id=row.message_id,
                )
        for row in rows:
            log.warning(
                "reply %s to %s was interrupted mid-send by a crash: marked uncertain, not resent",
                row.message_id,
                row.recipient,
            )
        return len(rows)

    # -- reading ----------------------------------------------------------------------------

    def sync(self) -> int:
        """Decide every message after the cursor, each reply leaving as soon as its decision
        is committed; send whatever else is due. Returns messages read. Every send it started
        has finished (and its outcome is committed) when it returns, even by an exception."""
        self._halted = False
        try:
            return self._sync()
        finally:
            self._drain()
            self._after_send_unless_deferred()

    def _sync(self) -> int:
        name = self.settings.mailbox_id
        cursor, self._epoch = self.store.cursor(name)
        if cursor is None:
            cursor = self._baseline(new_epoch=False)
        total = 0
        # The first batch of a pass is small, so that the first reply of a burst does not
        # wait for a hundred messages to be fetched and parsed; then batch_size.
        limit = min(FIRST_BATCH, self.settings.batch_size)
        while True:
            try:
                batch = self.mailbox.fetch_new(cursor, limit)
            except CursorInvalid as exc:
                log.warning("%s: %s; starting again from the away window", name, exc)
                cursor = self._baseline(new_epoch=True)
                continue
            for fetched in batch.messages:
                self.handle(fetched)
                self._pump(wait=False)  # its reply leaves now, while the next are decided
            if batch.cursor != cursor:
                with self.store.transaction():
                    self.store.set_cursor(name, batch.cursor, self.clock())
                cursor = batch.cursor
            total += len(batch.messages)
            if len(self._replied) >= AFTER_SEND_EVERY:
                self.after_send()  # one STORE and one APPEND for many replies
            if not batch.messages:
                # Only an empty read ends the pass: mail that arrived while this pass was
                # busy is read at once (one more SEARCH), not after IDLE's next notice.
                self._quiet = total == 0
                self.flush()
                self.sync_tags()
                return total
            limit = self.settings.batch_size

    def _baseline(self, *, new_epoch: bool) -> str:
        cursor = self.mailbox.baseline(self.settings.window_start)
        now = self.clock()
        with self.store.transaction():
            self._epoch = self.store.set_cursor(
                self.settings.mailbox_id, cursor, now, new_epoch=new_epoch
            )
            self.store.event(
                "baseline",
                now,
                mailbox=self.settings.mailbox_id,
                cursor=cursor,
                since=self.settings.window_start,
            )
        return cursor

    def handle(self, fetched: FetchedMessage) -> Outcome | None:
        """Decide one message exactly once. Never raises for a bad message."""
        name = self.settings.mailbox_id
        if self.store.seen(name, self._epoch, fetched.key):
            return None  # a batch replayed after a crash: decided already
        msg = parse(fetched.key, fetched.headers, fetched.body, fetched.received_at, fetched.size)
        now = self.clock()
        if self._epoch:
            # Re-read after the server forgot our cursor (UIDVALIDITY, a rejected sync state):
            # the same message keeps its decision under its new key, and is not decided again.
            with self.store.transaction():
                if self.store.rekey(
                    name,
                    self._epoch,
                    fetched.key,
                    message_id=msg.message_id,
                    same_key=self.mailbox.stable_keys,
                ):
                    log.debug("%s was decided before the re-baseline", fetched.key)
                    return None
        outgoing: list[Queued] = []
        routing: Routing | None = None
        ref: str | None = None
        follows: str | None = None
        signal: Signal | None = None
        unverified: str | None = None
        try:
            decision = self.decide(msg, now)
            found = self.link(msg) if decision.reason not in (Reason.DUPLICATE,) else None
            follows = found.ref if found else None
            if found and decision.reason not in AUTOMATED:
                # Part of a known inquiry: tracked for resolution, never answered again.
                signal = self._signal(msg, found)
                what = signal.rule if signal else "no resolution signal"
                if signal is not None:
                    checked = verdict(msg, self.settings.authserv_id)
                    if checked.failed:
                        unverified = checked.detail
                        what += f", unverified: {checked.detail}"
                decision = Decision(Reason.FOLLOW_UP, f"{follows}: {what}")
            elif (
                not follows
                and self.router
                and msg.sender
                and decision.reason in (Reason.REPLY, Reason.ALREADY_REPLIED, *MEETING_ANSWERS)
            ):
                # Routed for unanswered inquiries too: the report needs their audience.
                routing = self.router(msg, decision.recipient or msg.sender)
                if decision.reply and not routing.reply:
                    unknown = "external_replies" in routing.no_reply_reason
                    reason = Reason.UNKNOWN_SENDER if unknown else Reason.AUDIENCE_OFF
                    decision = Decision(reason, routing.no_reply_reason)
            if decision.reply and self._server_answered(fetched, msg):
                decision = Decision(
                    Reason.SERVER_ANSWERED, "the mail server's automatic reply ([handoff])"
                )
            if decision.reply:
                decision = self._valve(decision, now)
            if not follows and decision.reason in INQUIRY:
                ref = new_ref(self.store.ref_exists)
                related = self._cited(msg)
                if related and not decision.detail:
                    decision = replace(decision, detail=f"mentions {related}, another inquiry")
            if decision.reply and ref:
                outgoing = self._compose(fetched, msg, decision, routing, ref, now)
        except Exception as exc:  # the daemon never crashes on a message
            log.exception("message %s from %s: could not be handled", fetched.key, msg.sender)
            decision = Decision(Reason.ERROR, f"{type(exc).__name__}: {exc}"[:300])
            outgoing, ref, signal = [], None, None
        self._record(msg, decision, outgoing, routing, ref, now, follows, signal, unverified)
        outcome = Outcome(msg, decision, outgoing[0].raw if outgoing else None, routing, ref)
        log.info(
            "%s from=%s subject=%.60r -> %s%s",
            fetched.key,
            msg.sender or "-",
            msg.subject,
            decision.reason.value,
            f" ({decision.detail})" if decision.detail else "",
        )
        if not decision.reply and not self.dry_run:
            self._tag(fetched.key, TAG_SKIPPED)
        if self.on_outcome:
            self.on_outcome(outcome)
        return outcome

    # -- resolution tracking ----------------------------------------------------------------

    def link(self, msg: Inbound) -> Link | None:
        """The inquiry this message follows up, if any: by thread ids (``via="thread"``), by a
        reference in the subject or body (``"reference"``: only from someone who may know it,
        see :meth:`_may_cite`), or by the same sender writing about the same subject
        (``"subject"``)."""
        ref = self.store.inquiry_by_thread([*msg.in_reply_to, *msg.references])
        if ref:
            return Link(ref, "thread")
        for candidate in self._refs_in(msg):
            row = self.store.inquiry(candidate)
            if row is not None and self._may_cite(msg, row):
                return Link(candidate, "reference")
        topic = normalize_subject(msg.subject)
        if msg.sender and topic:
            for row in self.store.inquiries_of(msg.sender):
                if row.ref and normalize_subject(row.subject) == topic:
                    return Link(row.ref, "subject")
        return None

    @staticmethod
    def _refs_in(msg: Inbound) -> list[str]:
        # Only the first few: one mail listing 1,450 guessed references must not reach
        # whichever of them is real.
        return find_refs(f"{msg.subject}\n{msg.body_text[:20_000]}")[:REFS_CONSIDERED]

    def _may_cite(self, msg: Inbound, inquiry: MessageRecord) -> bool:
        """A reference links a message to an inquiry only when its writer is the asker, was a
        recipient of the inquiry, or is a delegate. References are public (the "ask there"
        hashtag carries them): anyone else quoting one is asking something new."""
        writers = {msg.from_address, msg.sender} - {None}
        known = {inquiry.sender, inquiry.delegate, *self.settings.delegate_emails}
        known |= set(inquiry.participants)
        return bool(writers & known)

    def _cited(self, msg: Inbound) -> str | None:
        """A known inquiry's reference quoted in a new inquiry (for the record)."""
        return next((r for r in self._refs_in(msg) if self.store.inquiry(r) is not None), None)

    def _signal(self, msg: Inbound, link: Link) -> Signal | None:
        inquiry = self.store.inquiry(link.ref)
        if inquiry is None:
            return None
        author = msg.from_address or msg.sender or ""
        asker = inquiry.sender or ""
        role: Role | None = None
        if author == asker or msg.sender == asker:
            role = "sender"
        elif author in self.settings.owner.addresses:
            role = None  # the owner's own mail in the thread is not a signal
        elif asker in msg.recipients and link.via == "thread":
            # An answer counts only inside the thread (its ids are known to those who were in
            # it; a reference is public) and addressed to the asker.
            delegates = {*self.settings.delegate_emails, inquiry.delegate or ""}
            role = "delegate" if author in delegates else "third_party"
        if role is None:
            return None
        signal = classify(
            msg.body_text,
            role=role,
            delegate_names=self.settings.delegate_names,
            network_names=self.settings.network_names,
        )
        if signal is not None and role == "third_party" and signal.helper is None:
            signal = replace(signal, helper=msg.from_name or author)
        return signal

    def sync_tags(self) -> int:
        """Make each inquiry's keyword ($OooOpen / $OooResolved) match its derived status."""
        if self.dry_run:
            return 0
        # Grouped, so that a burst of new inquiries costs one STORE, not one per message.
        groups: dict[tuple[str, bool], list[TagTask]] = {}
        for row in self.store.untagged_inquiries():
            if row.mailbox != self.settings.mailbox_id or row.epoch != self._epoch:
                continue  # the message's key means nothing in the current mailbox
            # A message never tagged carries neither keyword: nothing to remove.
            groups.setdefault((row.status, row.tagged is not None), []).append(row)
        changed = 0
        for (status, was_tagged), rows in groups.items():
            add, drop = (
                (TAG_RESOLVED, TAG_OPEN) if status == "resolved" else (TAG_OPEN, TAG_RESOLVED)
            )
            keys = [row.key for row in rows]
            try:
                if was_tagged:
                    self.mailbox.untag_many(keys, drop)
                self.mailbox.tag_many(keys, add)
            except MailboxError as exc:
                log.debug("could not tag %d inquiries: %s", len(rows), exc)
                return changed
            with self.store.transaction():
                for row in rows:
                    self.store.set_tagged(row.id, status)
            changed += len(rows)
        return changed

    def _server_answered(self, fetched: FetchedMessage, msg: Inbound) -> bool:
        """The mail server took charge of this message while ooo was not answering: its
        script marked it (SERVER_KEYWORD), or Exchange's replies were on when it arrived."""
        if SERVER_KEYWORD in fetched.keywords:
            return True
        since = self.server_since
        return since is not None and msg.received_at is not None and msg.received_at >= since

    def _valve(self, decision: Decision, now: datetime) -> Decision:
        """The flood valve: too many replies in the last hour turns a reply into a tracked,
        unanswered inquiry. Counted from the store, so a restart does not reset it."""
        limit = self.settings.max_replies_per_hour
        if limit <= 0:
            return decision
        recent = self.store.replies_since(now - timedelta(hours=1))
        if recent < limit:
            return decision
        return Decision(
            Reason.RATE_LIMITED,
            f"{recent} replies in the last hour (max_replies_per_hour = {limit})",
        )

    def decide(self, msg: Inbound, now: datetime) -> Decision:
        if msg.message_id and self.store.seen_message_id(msg.message_id):
            return Decision(Reason.DUPLICATE, msg.message_id)
        last = self.store.last_reply_at(msg.sender) if msg.sender else None
        return decide(
            msg,
            self.settings.owner,
            window_start=self.settings.window_start,
            window_end=self.settings.window_end,
            last_reply_at=last,
            interval=self.settings.interval,
            now=now,
            invitations=Invitations(
                self.settings.invitations, self.settings.reply.timezone, self.store.meeting_handled
            ),
        )

    def _compose(
        self,
        fetched: FetchedMessage,
        msg: Inbound,
        decision: Decision,
        routing: Routing | None,
        ref: str,
        now: datetime,
    ) -> list[Queued]:
        assert decision.recipient is not None
        domain = _domain(decision.owner_address)
        reply_id = make_msgid(domain=domain)
        if decision.reason in MEETING_ANSWERS:  # [calendar]: an iTIP answer, never prose
            answer = compose_answer(
                msg,
                decision,
                self.settings.reply,
                answer=MEETING_ANSWER[decision.reason],
                delegate=routing.delegate if routing else None,
                message_id=reply_id,
                now=now,
                lang=self._answer_language(msg, decision, routing),
            )
            return [Queued("reply", decision.recipient, reply_id, answer.as_bytes())]
        reply = reply_bytes(
            msg,
            decision,
            self.settings.reply,
            self.renderer,
            message_id=reply_id,
            now=now,
            routing=routing,
            ref=ref,
        )
        delegate = routing.delegate if routing else None
        cc = (delegate.email,) if routing and routing.cc_delegate and delegate else ()
        out = [Queued("reply", decision.recipient, reply_id, reply, cc)]
        if routing and routing.forward_to_delegate and delegate:
            fwd_id = make_msgid(domain=domain)
            fwd = compose_forward(
                msg,
                fetched.headers + fetched.body,
                decision,
                self.settings.reply,
                routing,
                ref=ref,
                message_id=fwd_id,
                now=now,
                lang=locale.language(self.settings.reply.colleagues),
            )
            out.append(Queued("forward", delegate.email, fwd_id, fwd.as_bytes()))
        return out

    def _answer_language(
        self, msg: Inbound, decision: Decision, routing: Routing | None
    ) -> Language:
        """The language of an invitation's answer: the one a reply to this sender would be
        written in, when ooo's own words exist in it (ooo.locale), else English."""
        code = reply_language(msg, decision, self.settings.reply, routing).language
        try:
            return locale.language(code)
        except (ValueError, UserError):  # a reply language ooo has no words for
            return ENGLISH

    def _record(
        self,
        msg: Inbound,
        decision: Decision,
        outgoing: list[Queued],
        routing: Routing | None,
        ref: str | None,
        now: datetime,
        follows: str | None = None,
        signal: Signal | None = None,
        unverified: str | None = None,
    ) -> None:
        audience = routing.audience if routing else None
        owners = set(self.settings.owner.addresses)
        participants = (
            tuple(
                a
                for a in dict.fromkeys((msg.from_address or "", *msg.recipients))
                if a and a not in owners
            )
            if ref
            else ()
        )
        route = routing.route if routing else None
        with self.store.transaction():
            row = self.store.record_message(
                mailbox=self.settings.mailbox_id,
                epoch=self._epoch,
                key=msg.key,
                message_id=msg.message_id,
                sender=msg.sender,
                from_name=msg.from_name,
                subject=msg.subject,
                received_at=msg.received_at,
                decided_at=now,
                reason=decision.reason.value,
                detail=decision.detail,
                ref=ref,
                audience=audience,
                route=route,
                delegate=routing.delegate.email if routing and routing.delegate else None,
                follows=follows,
                participants=participants[:50],
            )
            if follows and signal is not None:
                self.store.add_signal(
                    ref=follows,
                    at=msg.received_at or now,
                    kind=signal.kind,
                    by=signal.by,
                    rule=signal.rule,
                    evidence=signal.evidence,
                    author=msg.from_address or msg.sender,
                    helper=signal.helper,
                    message_id=msg.message_id,
                    flagged=signal.flagged,
                    unverified=unverified,
                )
            self.store.event(
                "decision",
                now,
                key=msg.key,
                message_id=msg.message_id,
                sender=msg.sender,
                subject=msg.subject[:200],
                reason=decision.reason.value,
                detail=decision.detail,
                ref=ref,
                audience=audience,
                route=route,
            )
            self._valve_status(decision, now, bool(outgoing))
            envelope = "" if self.settings.null_envelope else (decision.owner_address or "")
            for item in outgoing:
                self.store.queue_reply(
                    message_row=row,
                    recipient=item.recipient,
                    message_id=item.message_id,
                    envelope_from=envelope,
                    raw=item.raw,
                    now=now,
                    kind=item.kind,
                    cc=item.cc,
                )
                self.store.event(
                    f"{item.kind}_queued",
                    now,
                    key=msg.key,
                    to=item.recipient,
                    cc=list(item.cc),
                    message_id=item.message_id,
                    ref=ref,
                )

    def _valve_status(self, decision: Decision, now: datetime, answering: bool) -> None:
        # `ooo status` shows the valve: tripped (with how many went unanswered), or open again.
        if decision.reason is Reason.RATE_LIMITED:
            self.store.set_status(
                "valve",
                f"tripped: {decision.detail}; new inquiries are tracked but not answered",
                now,
            )
        elif answering:
            current = self.store.status().get("valve")
            if current and current[0].startswith("tripped"):
                self.store.set_status(
                    "valve", f"open again: answering (last tripped {iso(current[1])})", now
                )

    # -- sending ----------------------------------------------------------------------------

    def flush(self) -> int:
        """Send every due reply and wait for the sends under way. Stops starting new ones at
        the first sign the server is down; returns how many were sent."""
        before = self._sent
        self._halted = False
        try:
            self._pump(wait=True)
        finally:
            self._drain()
            self._after_send_unless_deferred()
        return self._sent - before

    def _pump(self, *, wait: bool) -> None:
        """Collect the sends that finished, and start those that are due, as many as the
        transport takes at once. With ``wait``: until nothing is due or under way."""
        while True:
            self._collect(block=False)
            if not self._halted and self._start_due():
                continue  # more may be due, or a session free again
            if not (wait and self._inflight):
                return
            self._collect(block=True)

    def _start_due(self) -> int:
        """Start due replies (in the engine's thread, or on the pool); return how many."""
        threads = 0 if self.dry_run else self.transport.concurrent_sends
        room = threads - len(self._inflight) if threads > 0 else SEND_CHUNK
        if room <= 0:
            return 0
        now = self.clock()
        due = self.store.due_replies(now, limit=room)
        if threads <= 0:
            for item in due:
                with self.store.transaction():
                    self.store.set_reply_state(item.id, "sending", now)
                self._finish(item, self._send_here(item))
                if self._halted:
                    break
            return len(due)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(threads, thread_name_prefix=child_name("send"))
        # Committed before the transactions start: a crash from here on leaves them
        # "sending", which recover() turns into "uncertain", never into a second send.
        with self.store.transaction():
            for item in due:
                self.store.set_reply_state(item.id, "sending", now)
        for item in due:
            future = self._pool.submit(
                self.transport.send, item.raw, item.envelope_from, item.recipients
            )
            self._inflight[future] = item
        return len(due)

    def _send_here(self, item: OutboxItem) -> Future[dict[str, str]]:
        """One send in the engine's thread, its outcome as a finished Future."""
        done: Future[dict[str, str]] = Future()
        try:
            if self.dry_run:
                log.info("dry run: would send %s to %s", item.message_id, item.recipient)
                done.set_result({})
            else:
                done.set_result(self.transport.send(item.raw, item.envelope_from, item.recipients))
        except Exception as exc:  # handed to _finish, which re-raises what it does not know
            done.set_exception(exc)
        return done

    def _collect(self, *, block: bool) -> None:
        """Commit the outcome of every send that has finished (with ``block``: wait for at
        least one first)."""
        if not self._inflight:
            return
        if block:
            finished = wait(self._inflight, return_when=FIRST_COMPLETED).done
        else:
            finished = {f for f in self._inflight if f.done()}
        for future in sorted(finished, key=lambda f: self._inflight[f].id):
            self._finish(self._inflight.pop(future), future)

    def _drain(self) -> None:
        """Wait for every send under way and commit its outcome; start nothing new."""
        try:
            while self._inflight:
                self._collect(block=True)
        finally:
            if self._pool is not None and not self._inflight:
                self._pool.shutdown(wait=True)
                self._pool = None

    def _finish(self, item: OutboxItem, outcome: Future[dict[str, str]]) -> None:
        """Commit what became of one send."""
        now = self.clock()
        try:
            refused = outcome.result()
        except TransportRejected as exc:
            with self.store.transaction():
                self.store.set_reply_state(item.id, "failed", now, error=str(exc))
                self.store.event("reply_failed", now, reply_id=item.id, error=str(exc))
            log.error("reply to %s refused for good: %s", item.recipient, exc)
            return
        except TransportUnavailable as exc:
            first = self.settings.retry_first.total_seconds()
            retry = now + retry_delay(item.attempts + 1, first=first)
            with self.store.transaction():
                self.store.set_reply_state(
                    item.id, "queued", now, error=str(exc), next_attempt_at=retry
                )
                self.store.defer_queued(retry)
                self.store.set_status("last_error", str(exc), now)
            log.warning(
                "reply to %s not sent (%s); kept queued, next try %s",
                item.recipient,
                exc,
                retry.isoformat(timespec="seconds"),
            )
            self._halted = True
            return
        with self.store.transaction():
            self.store.set_reply_state(
                item.id,
                "sent",
                now,
                error=f"copy refused: {refused}" if refused else None,
            )
            self.store.event(
                "reply_sent",
                now,
                reply_id=item.id,
                to=item.recipient,
                reply_message_id=item.message_id,
                refused=refused,
            )
        for rcpt, answer in refused.items():
            log.warning(
                "the server refused the copy to %s (%s): check the delegate's "
                "address in the config",
                rcpt,
                answer,
            )
        self._sent += 1
        if not self.dry_run:  # the dry run said "would send" above; nothing was sent
            verb = "replied to" if item.kind == "reply" else "forwarded to"
            cc = f" (cc {', '.join(item.cc)})" if item.cc else ""
            log.info("%s %s%s: %s", verb, item.recipient, cc, item.message_id)
        if not self.dry_run and item.kind == "reply":
            if not self._replied:
                self._replied_since = self.clock()
            self._replied.append((item.message_key, item.raw))

    def after_send_pending(self) -> bool:
        """Replies wait for their tagging and Sent copy (see ``defer_after_send``)."""
        return bool(self._replied)

    def _after_send_unless_deferred(self) -> None:
        if (
            not self.defer_after_send
            or self._quiet
            or len(self._replied) >= AFTER_SEND_EVERY
            or (
                self._replied_since is not None
                and self.clock() - self._replied_since >= AFTER_SEND_WITHIN
            )
        ):
            self.after_send()

    def after_send(self) -> None:
        """Tag the replies sent since the last time and file their Sent copies, now (also
        what a deferred pass kept for a quiet moment). The keyword and the Sent copy are
        courtesies for the owner's mail client; the store is the record. Batched: one STORE
        and one MULTIAPPEND for many replies."""
        replied, self._replied = self._replied, []
        if replied:
            self._after_send(replied)

    def _after_send(self, replied: list[tuple[str, bytes]]) -> None:
        try:
            self.mailbox.tag_many([key for key, _ in replied], TAG_REPLIED)
        except MailboxError as exc:
            log.debug("could not tag %d replied messages: %s", len(replied), exc)
        if self.settings.sent_folder:
            folder = self.settings.sent_folder
            try:
                self.mailbox.append_many(folder, [raw for _, raw in replied], seen=True)
            except MailboxError as exc:
                log.warning("could not save %d replies in %s: %s", len(replied), folder, exc)

    def _tag(self, key: str, keyword: str) -> None:
        # Tags are a courtesy for the owner's mail client; the store is the record.
        try:
            self.mailbox.tag(key, keyword)
        except MailboxError as exc:
            log.debug("could not tag %s with %s: %s", key, keyword, exc)


_PREFIXES = re.compile(
    r"^\s*((re|aw|sv|vs|fw|fwd|wg|tr|rv|ref|antw|auto|r)\s*(\[\d+\])?\s*:\s*)+",
    re.IGNORECASE,
)


def normalize_subject(subject: str) -> str:
    """ "Re: AW: Fwd:  The Plan" -> "the plan": what a thread keeps when clients prefix."""
    return " ".join(_PREFIXES.sub("", subject).lower().split())


def _domain(address: str | None) -> str:
    return address.rsplit("@", 1)[-1] if address and "@" in address else "ooo.invalid"
