"""The handoff through Exchange's automatic replies (OOF), over ``exchangelib``.

ooo schedules the server's automatic replies to start when its lease runs out and to end with
the away window, and pushes the start forward while it runs (:meth:`ExchangeHandoff.renew`).
The replies are the owner's templates rendered for an unknown sender (ooo.handoff.reply): the
internal reply for colleagues, the external one for everyone else (ExternalAudience "All", or
"Known" with ``external_replies = "known"``, or "None").

Exchange answers each sender once while its replies are on, and **forgets whom it answered
whenever they are switched off or edited**; it also cannot be told whom ooo answered. So once
the server has taken over (the scheduled start has passed), it keeps the job until the window
ends: :meth:`take_back` then leaves it alone and reports the server in charge
(``state.answering == "server"``), and ooo must only track, not answer. No flip-flopping: at
most one period per window, which :meth:`finish` (or :meth:`take_back`) returns for the report.
The one exception is an edited ``away.end`` while the server is in charge: the end must move,
and Exchange's memory goes with that edit.

Whose automatic replies are these? ooo's, if a previous run of this responder said so (the
``previous`` state ooo.handoff.create is given from the store) or if the replies are exactly
ooo's text. Anything else (the owner switched them on in Outlook) is not touched:
:meth:`take_back` raises HandoffRefused with advice, as ``ooo check`` warns.

The connection is an :class:`~ooo.mailbox.ews.EwsMailbox` of its own (not the engine's: the
logind hook calls :meth:`hand_off` from another thread); exchangelib's errors are mapped here.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from exchangelib import UTC as EWS_UTC
from exchangelib import EWSDateTime, OofSettings
from exchangelib import errors as ews_errors

from ooo.core.sieve import ServerReply
from ooo.handoff.base import (
    Handoff,
    HandoffAuthError,
    HandoffCheck,
    HandoffError,
    HandoffRefused,
    HandoffState,
    HandoffUnavailable,
    ServerPeriod,
)
from ooo.handoff.sieve import RENEW_AT, RETRY_AFTER
from ooo.mailbox.base import MailboxAuthError, MailboxError
from ooo.mailbox.ews import EwsMailbox

log = logging.getLogger("ooo")


def _aware(moment: Any) -> datetime | None:
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        return None
    return datetime.fromtimestamp(moment.timestamp(), UTC)


def _same_text(a: str | None, b: str | None) -> bool:
    def norm(text: str | None) -> str:
        return " ".join(re.sub(r"<[^>]*>", " ", text or "").split())

    return bool(a and b) and norm(a) == norm(b)


class ExchangeHandoff(Handoff):
    """Exchange's automatic replies as ooo's stand-in (see the module docstring).

    ``mailbox`` makes an unopened EwsMailbox for the owner's account; ``previous`` is the last
    state this responder stored (``HandoffState.from_json``), or None on a first start.
    """

    method = "exchange"

    def __init__(
        self,
        mailbox: Callable[[], EwsMailbox],
        *,
        reply: ServerReply,
        window_end: datetime,
        lease: timedelta,
        clock: Callable[[], datetime],
        previous: HandoffState | None = None,
    ) -> None:
        self._make = mailbox
        self.reply, self.window_end, self.lease, self.clock = reply, window_end, lease, clock
        self._box: EwsMailbox | None = None
        self._lock = threading.RLock()
        self._scheduled: datetime | None = None  # the start we set, while ooo is in charge
        self._failed_at: datetime | None = None
        self._was_ours = previous is not None and previous.method == "exchange"
        self._was_ours = self._was_ours and previous is not None and previous.answering != "owner"
        self._state = HandoffState(
            "exchange", "nobody", why="not taken back yet", window_end=window_end
        )

    @property
    def state(self) -> HandoffState:
        with self._lock:
            return self._state

    # -- talking to Exchange --------------------------------------------------------------

    def _account(self) -> Any:
        if self._box is None:
            box = self._make()
            try:
                box.open()
            except MailboxAuthError as exc:
                raise HandoffAuthError(str(exc)) from exc
            except MailboxError as exc:
                raise HandoffUnavailable(str(exc)) from exc
            # Exchange reports OOF times in UTC without a zone: read them so, not as local time.
            box.account.default_timezone = EWS_UTC
            self._box = box
        return self._box.account

    def _call(self, doing: str, action: Callable[[Any], Any]) -> Any:
        try:
            return action(self._account())
        except HandoffError:
            raise
        except ews_errors.UnauthorizedError as exc:
            self.close()
            raise HandoffAuthError(f"Exchange refused the login while {doing}: {exc}") from exc
        except ews_errors.ErrorAccessDenied as exc:
            self.close()
            raise HandoffAuthError(
                f"Exchange denied access to the automatic-reply settings while {doing}: {exc}"
            ) from exc
        except (ews_errors.EWSError, OSError, ValueError, TypeError, AttributeError) as exc:
            self.close()
            raise HandoffUnavailable(f"{doing} on Exchange failed: {exc}") from exc

    def _read(self) -> Any:
        return self._call("reading the automatic replies", lambda a: a.oof_settings)

    def _write(self, settings: OofSettings, doing: str) -> None:
        def write(account: Any) -> None:
            account.oof_settings = settings

        self._call(doing, write)

    def _schedule(self, start: datetime) -> OofSettings:
        r = self.reply
        return OofSettings(
            state=OofSettings.SCHEDULED,
            external_audience=r.external_audience,
            start=EWSDateTime.from_datetime(start.astimezone(UTC)),
            end=EWSDateTime.from_datetime(self.window_end.astimezone(UTC)),
            internal_reply=r.internal_html or r.internal or r.external_html or "",
            external_reply=r.external_html or r.external or r.internal_html or "",
        )

    def _ours(self, oof: Any) -> bool:
        if self._was_ours:
            return True
        mine = self._schedule(self.clock())
        return _same_text(oof.internal_reply, mine.internal_reply) and _same_text(
            oof.external_reply, mine.external_reply
        )

    # -- the interface --------------------------------------------------------------------

    def take_back(self, lease_until: datetime, answered: Sequence[str]) -> ServerPeriod | None:
        with self._lock:
            try:
                return self._take_back(lease_until)
            except HandoffError:
                self._failed_at = self.clock()
                raise

    def _take_back(self, lease_until: datetime) -> ServerPeriod | None:
        oof = self._read()
        now = self.clock()
        state = getattr(oof, "state", OofSettings.DISABLED)
        start, end = _aware(getattr(oof, "start", None)), _aware(getattr(oof, "end", None))
        if state != OofSettings.DISABLED and not self._ours(oof):
            raise HandoffRefused(
                f"Exchange's own automatic replies are {state.lower()}"
                + (
                    f" ({start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC)"
                    if start and end
                    else ""
                )
                + ": ooo will not replace replies it did not set",
                advice="turn them off (Outlook: File > Automatic Replies): ooo schedules them "
                'itself with your template\'s text; or set handoff.method = "none"',
            )
        in_charge = state == OofSettings.SCHEDULED and start and end and start <= now < end
        if state == OofSettings.ENABLED or in_charge:
            since = start if in_charge and start else now
            if end != self.window_end and self.window_end > now:
                # away.end moved: the one edit that cannot wait (it resets Exchange's memory).
                self._write(self._schedule(since), "moving the end of the automatic replies")
            self._scheduled, self._failed_at = None, None
            self._was_ours = True
            self._state = HandoffState(
                "exchange",
                "server",
                since=since,
                why="Exchange took over and keeps answering until the window ends (it would "
                "forget whom it answered if ooo took back)",
                window_end=self.window_end,
            )
            return ServerPeriod(since, None, "ooo's lease ran out or ooo handed off")
        self._push(lease_until)
        self._state = HandoffState(
            "exchange",
            "ooo",
            since=now,
            lease_until=self._scheduled,
            why="ooo is running",
            window_end=self.window_end,
        )
        return None

    def _push(self, lease_until: datetime) -> None:
        """Schedule the replies to start at ``lease_until`` (or switch them off when the
        lease outlasts the window: nothing left to hand over)."""
        if lease_until >= self.window_end or not (self.reply.internal or self.reply.external):
            self._write(OofSettings(state=OofSettings.DISABLED), "switching automatic replies off")
        else:
            self._write(self._schedule(lease_until), "scheduling the automatic replies")
        self._scheduled, self._failed_at, self._was_ours = lease_until, None, True

    def renew(self, lease_until: datetime, answered: Sequence[str]) -> ServerPeriod | None:
        with self._lock:
            if self._state.answering == "server" or self._state.answering == "owner":
                return None  # no flip-flopping: the server keeps the job
            if self._scheduled is None:
                return self.take_back(lease_until, answered)
            now = self.clock()
            if now >= self._scheduled and self._scheduled < self.window_end:
                # Too late: Exchange has started answering. It keeps the job.
                self._state = HandoffState(
                    "exchange",
                    "server",
                    since=self._scheduled,
                    why="ooo could not renew its lease in time; Exchange keeps answering until "
                    "the window ends",
                    window_end=self.window_end,
                )
                log.warning("handoff: %s", self._state.why)
                return ServerPeriod(self._scheduled, None, "ooo's lease ran out")
            if now < self._scheduled - self.lease * RENEW_AT or lease_until <= self._scheduled:
                return None
            try:
                self._push(lease_until)
            except HandoffError:
                self._failed_at = now
                raise
            self._state = HandoffState(
                "exchange",
                "ooo",
                since=self._state.since,
                lease_until=lease_until,
                why="ooo is running",
                window_end=self.window_end,
            )
            return None

    def due(self) -> datetime | None:
        with self._lock:
            if self._state.answering in ("server", "owner"):
                return None
            if self._scheduled is None:
                return self._failed_at + RETRY_AFTER if self._failed_at else self.clock()
            due = self._scheduled - self.lease * RENEW_AT
            return max(due, self._failed_at + RETRY_AFTER) if self._failed_at else due

    def hand_off(self, reason: str) -> None:
        with self._lock:
            if self._state.answering != "ooo":
                return
            now = self.clock()
            if now >= self.window_end or not (self.reply.internal or self.reply.external):
                return
            self._write(self._schedule(now), "handing off to the automatic replies")
            self._scheduled = None
            self._state = HandoffState(
                "exchange",
                "server",
                since=now,
                why=f"ooo handed off ({reason}); Exchange keeps answering until the window ends",
                window_end=self.window_end,
            )
            log.info("handoff: Exchange's automatic replies answer from now on (%s)", reason)

    def finish(self) -> ServerPeriod | None:
        with self._lock:
            oof = self._read()
            now = self.clock()
            state = getattr(oof, "state", OofSettings.DISABLED)
            start, end = _aware(getattr(oof, "start", None)), _aware(getattr(oof, "end", None))
            period = None
            if state != OofSettings.DISABLED and self._ours(oof):
                if state == OofSettings.SCHEDULED and start and end and start < min(now, end):
                    period = ServerPeriod(start, min(now, end), "Exchange's automatic replies")
                self._write(OofSettings(state=OofSettings.DISABLED), "switching them off")
            self._scheduled = None
            self._state = HandoffState(
                "exchange",
                "owner",
                since=now,
                why="the away window is over: Exchange's automatic replies are off",
                window_end=self.window_end,
            )
            return period

    def check(self) -> HandoffCheck:
        with self._lock:
            try:
                oof = self._read()
            except HandoffError as exc:
                return HandoffCheck(False, str(exc))
        state = getattr(oof, "state", OofSettings.DISABLED)
        if state != OofSettings.DISABLED and not self._ours(oof):
            return HandoffCheck(
                False,
                f"Exchange's own automatic replies are {state.lower()}: ooo will not replace "
                "them; turn them off (Outlook: File > Automatic Replies), ooo schedules them "
                "itself",
            )
        return HandoffCheck(True, f"Exchange automatic replies readable (now {state.lower()})")

    def describe(self, lease_until: datetime, answered: Sequence[str]) -> str:
        end = self.window_end.astimezone(UTC)
        start = min(lease_until, end).astimezone(UTC)
        r = self.reply
        return (
            f"Exchange automatic replies: scheduled from {start:%Y-%m-%d %H:%M} UTC (when ooo's "
            f"lease runs out; pushed forward while ooo runs) to {end:%Y-%m-%d %H:%M} UTC\n"
            f"External audience: {r.external_audience}\n\n"
            f"--- internal reply ---\n{r.internal_html or r.internal or r.external_html or ''}\n"
            f"--- external reply ---\n{r.external_html or r.external or ''}\n"
        )

    def close(self) -> None:
        box, self._box = self._box, None
        if box is not None:
            with contextlib.suppress(Exception):
                box.close()
