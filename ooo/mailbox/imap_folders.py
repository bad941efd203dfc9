"""Several IMAP folders watched at once (``[mailbox] folders = ["INBOX", "Clients/*"]``).

:class:`ImapFoldersMailbox` is the IMAP backend of :mod:`ooo.mailbox.imap` with a folder in
every key (``"Clients/acme:42"``) and a cursor that holds each folder's UIDVALIDITY and last
UID (:class:`~ooo.mailbox.base.FolderCursors`). One connection reads and tags, selecting the
folder it needs. How it learns of new mail, best first:

* **NOTIFY** (RFC 5465), where the server offers it (Dovecot does): the one connection asks
  for ``MessageNew`` in every watched folder and for folder creation and deletion, then IDLEs;
  new mail elsewhere comes as ``* STATUS "folder" (...)``, a new or deleted folder as
  ``* LIST``, and the patterns are matched again at once. imapclient has no NOTIFY helper:
  the command goes through its low-level ``_raw_command``.
* **IDLE, one connection per folder**, up to :data:`MAX_IDLE_CONNECTIONS` folders: each extra
  connection EXAMINEs its folder and stays in IDLE; ``wait()`` selects on all their sockets.
* **Polling**: every ``poll_interval``, NOOP for the selected folder and STATUS (UIDNEXT,
  UIDVALIDITY) for the others.

Patterns are IMAP LIST patterns (``*`` and ``%``), matched by the server at every (re)connect
(and, under NOTIFY, whenever a folder appears or goes). The owner's Sent, Drafts, Trash and
Junk folders (SPECIAL-USE, RFC 6154; by name on servers without it; and ``sent_folder``), and
the virtual \\All and \\Flagged ones, are never watched even when a pattern matches them. A
pattern that matches nothing, or a folder that is missing or disappears, is logged as an error
and the other folders go on being watched. A folder is read only when it may hold news (it was
announced, its STATUS says UIDNEXT moved, or it was never read on this connection), so
fetch_new sees all mail there is even before a notice of it arrives.

Server facts relied on, measured against Dovecot 2.3 (see MAILSERVERS.md): imaplib's SELECT
throws away every untagged response it has collected, so the notifications are taken before
each SELECT; under NOTIFY, a NOOP also returns the pending STATUS notifications.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from imapclient import exceptions as imap_errors
from imapclient import imap_utf7
from imapclient.response_parser import parse_response

from ooo.mailbox.base import (
    NEVER_WATCHED_NAMES,
    Batch,
    CursorInvalid,
    FetchedMessage,
    FolderCursors,
    MailboxError,
    MailboxUnavailable,
    Watching,
    is_pattern,
    qualified_key,
    split_key,
)
from ooo.mailbox.imap import (
    _FAST_EMPTY_LIMIT,
    _FETCH_ITEMS,
    _SEARCH_ATTEMPTS,
    ImapMailbox,
    Security,
    _abandon,
    _describe,
    _first_match,
    _is_bye,
    _text,
    _to_fetched,
    same_folder,
)

log = logging.getLogger("ooo")

#: At most this many folders are watched with one IDLE connection each (servers limit the
#: connections of one user: Dovecot to 10 from one address by default); past it, polling.
MAX_IDLE_CONNECTIONS = 8

# SPECIAL-USE attributes (RFC 6154) of folders that are never watched, and why.
_NEVER_WATCHED_USES = {
    b"\\sent": "the Sent folder",
    b"\\drafts": "the Drafts folder",
    b"\\trash": "the Trash folder",
    b"\\junk": "the Junk folder",
    b"\\all": "a virtual folder of all mail",
    b"\\flagged": "a virtual folder of flagged mail",
}
_UNSELECTABLE = (b"\\noselect", b"\\nonexistent")

Mode = str  # "NOTIFY", "IDLE", "poll"


class ImapFoldersMailbox(ImapMailbox):
    """Several folders of one IMAP account, by name or LIST pattern, watched at once.

    ``exclude`` names folders never to watch besides the SPECIAL-USE ones (the configured
    Sent folder). ``use_notify=False`` skips NOTIFY (IDLE per folder, then polling);
    ``max_idle_connections`` caps the IDLE connections (0: poll rather than IDLE).
    """

    def __init__(
        self,
        host: str,
        port: int,
        security: Security,
        username: str,
        password_provider: Callable[[], str],
        folders: Sequence[str],
        *,
        exclude: Iterable[str] = (),
        use_notify: bool = True,
        max_idle_connections: int = MAX_IDLE_CONNECTIONS,
        **options: Any,
    ) -> None:
        if not folders:
            raise ValueError("folders must name at least one folder")
        # Set before the base class, whose constructor clears _mail_announced (a property here).
        self._dirty: set[str] = set()
        self._selected: str | None = None
        self._relist = False
        first = next((f for f in folders if not is_pattern(f)), "INBOX")
        super().__init__(host, port, security, username, password_provider, first, **options)
        self.patterns = tuple(folders)
        self.exclude = frozenset(exclude)
        self.use_notify = use_notify
        self.max_idle_connections = max_idle_connections
        self.mode: Mode = "poll"
        self._watched: list[str] = []
        self._problems: tuple[str, ...] = ()
        self._skipped: tuple[str, ...] = ()
        self._validity: dict[str, int] = {}
        # Per folder, (last UID read, UIDNEXT) when a read found nothing more: while STATUS
        # says the same UIDNEXT, a fetch from that UID need not SELECT it.
        self._quiet: dict[str, tuple[int, int]] = {}
        self._next_uid: dict[str, int] = {}  # as SELECT last said
        self._watchers: dict[str, Any] = {}  # folder -> imapclient.IMAPClient in IDLE
        self._watchers_refreshed = 0.0
        self._rotation = 0
        # The positions of the folders still valid when a cursor went stale: baseline() keeps
        # them, so one renumbered folder does not send the others back to the window's start.
        self._keep: FolderCursors | None = None

    # -- news: which folders may hold new mail -------------------------------------------

    @property
    def _mail_announced(self) -> bool:
        # Only watched folders count: news of one left out (deleted, or no longer matched)
        # would otherwise wake wait() again and again.
        self._dirty.intersection_update(self._watched)
        return bool(self._dirty) or self._relist

    @_mail_announced.setter
    def _mail_announced(self, value: bool) -> None:
        if value and self._selected is not None:
            self._dirty.add(self._selected)

    def _note_untagged_exists(self) -> None:
        # EXISTS belongs to the selected folder; STATUS (NOTIFY) names another; LIST (NOTIFY)
        # says a folder appeared or went.
        if self._take_untagged_exists() and self._selected is not None:
            self._dirty.add(self._selected)
        if self._client is None:
            return
        _name, statuses = self._client._imap.response("STATUS")
        for raw in statuses:
            if not isinstance(raw, bytes):
                continue
            try:
                name = parse_response([raw])[0]
            except Exception:  # a malformed notice costs one look at every folder
                self._dirty.update(self._watched)
                continue
            self._status_news(name)
        _name, lists = self._client._imap.response("LIST")
        if any(v is not None for v in lists):
            self._relist = True

    def _note_responses(self, responses: Iterable[Any]) -> None:
        for response in responses:
            if not isinstance(response, tuple) or len(response) < 2:
                continue
            if response[1] == b"EXISTS" and self._selected is not None:
                self._dirty.add(self._selected)
            elif response[0] == b"STATUS":
                self._status_news(response[1])
            elif response[0] == b"LIST":
                self._relist = True

    def _status_news(self, name: Any) -> None:
        folder = _folder_name(name)
        if folder in self._watched:
            self._dirty.add(folder)

    # -- connection ----------------------------------------------------------------------

    def open(self) -> None:
        if self._client is not None:
            return
        client = self._connect()
        self._client = client
        try:
            self._login(client)
            self._resolve(client)
            if not self._watched:
                raise MailboxUnavailable(
                    f"none of mailbox.folders {list(self.patterns)} names a folder to watch on "
                    f"{self.where}: {'; '.join(self._problems)}"
                )
            self._choose_mode(client)
            while not self._select(client, self._watched[0]):
                pass  # gone since LIST: _lost() left it out (and gives up when none is left)
            if self.mode == "NOTIFY":
                self._notify(client)
            elif self.mode == "IDLE":
                self._open_watchers()
        except BaseException:
            self._drop(client)
            raise
        # Anything may have come while we were away: every folder is read once.
        self._dirty = set(self._watched)
        self._relist = False

    def close(self) -> None:
        self._close_watchers()
        self._selected = None
        super().close()

    def interrupt(self) -> None:
        # shutdown() wakes a select() blocked on a socket in another thread (closing the
        # descriptor would not); that thread reads end-of-file and close() drops the rest.
        for client in [self._client, *self._watchers.values()]:
            if client is not None:
                with contextlib.suppress(Exception):
                    client.socket().shutdown(socket.SHUT_RDWR)

    def _drop(self, client: Any = None) -> None:
        if client is None or client is self._client:
            self._close_watchers(gracefully=False)
            self._selected = None
        super()._drop(client)

    def watching(self) -> Watching:
        how = {
            "NOTIFY": "NOTIFY (one connection)",
            "IDLE": f"IDLE, one connection per folder ({len(self._watchers)})",
        }.get(self.mode, f"polling every {self.poll_interval:g} s")
        return Watching(tuple(self._watched), how, self._problems, self._skipped)

    def _choose_mode(self, client: Any) -> None:
        if self.use_notify and client.has_capability("NOTIFY"):
            self.mode = "NOTIFY"
        elif self.use_idle and client.has_capability("IDLE"):
            if len(self._watched) <= self.max_idle_connections:
                self.mode = "IDLE"
            else:
                self.mode = "poll"
                log.info(
                    "%d folders on %s, more than %d IDLE connections: polling every %g s",
                    len(self._watched),
                    self.where,
                    self.max_idle_connections,
                    self.poll_interval,
                )
        else:
            self.mode = "poll"

    # -- folders ---------------------------------------------------------------------------

    def _resolve(self, client: Any) -> None:
        """Match the configured names and patterns with LIST; log each one that finds nothing."""
        special = client.has_capability("SPECIAL-USE")
        self._note_untagged_exists()  # a LIST notice must not mix with our own LIST's answer
        watched: list[str] = []
        problems: list[str] = []
        skipped: list[str] = []
        for pattern in self.patterns:
            with self._mapped(f"listing the folders {pattern!r}"):
                rows = client.list_folders("", pattern)
            names: list[str] = []
            for flags, _delimiter, raw_name in rows:
                name = _folder_name(raw_name)
                lowered = {bytes(f).lower() if isinstance(f, bytes) else b"" for f in flags}
                if lowered & set(_UNSELECTABLE):
                    continue
                why = self._never_watched(name, lowered, special)
                if why:
                    skipped.append(f"{name} ({why})")
                    continue
                names.append(name)
            if not names:
                problems.append(
                    f"mailbox.folders: {pattern!r} matches no folder on {self.where}"
                    if is_pattern(pattern)
                    else f"mailbox.folders: folder {pattern!r} does not exist on {self.where}"
                )
            watched += [n for n in sorted(names) if n not in watched]
        for problem in problems:
            log.error("%s; the other folders are watched", problem)
        for what in skipped:
            log.info("not watching %s", what)
        self._watched = watched
        self._problems = tuple(problems)
        self._skipped = tuple(dict.fromkeys(skipped))
        self.folder = watched[0] if watched else self.folder

    def _never_watched(self, name: str, flags: set[bytes], special: bool) -> str | None:
        for use, why in _NEVER_WATCHED_USES.items():
            if use in flags:
                return why
        if name in self.exclude:
            return "mailbox.sent_folder"
        if not special and name.rsplit("/", 1)[-1].rsplit(".", 1)[-1].lower() in (
            NEVER_WATCHED_NAMES
        ):
            return "by its name, the server has no SPECIAL-USE"
        return None

    def _relist_now(self, client: Any) -> None:
        """A folder appeared or went (NOTIFY said so): match the patterns again."""
        self._relist = False
        before = set(self._watched)
        self._resolve(client)
        if not self._watched:
            self._dead(f"none of mailbox.folders {list(self.patterns)} is left to watch")
        self._dirty.update(set(self._watched) - before)
        self._dirty.intersection_update(self._watched)
        for gone in sorted(before - set(self._watched)):
            log.error(
                "folder %r on %s disappeared: no longer watched; the other folders are",
                gone,
                self.where,
            )
            self._problems = (*self._problems, f"folder {gone!r} disappeared")
        if set(self._watched) != before:
            log.info("watching %s on %s", ", ".join(self._watched), self.where)
            if self.mode == "NOTIFY":
                self._notify(client)

    def _select(self, client: Any, folder: str) -> bool:
        """SELECT ``folder`` (read-write: tags are stored there). False when it is not there
        any more: then it is logged, left out until the patterns are matched again."""
        if self._selected == folder:
            return True
        # imaplib's SELECT throws away the untagged responses it holds: take the news first.
        self._note_untagged_exists()
        try:
            selected = client.select_folder(folder)
        except (OSError, imap_errors.IMAPClientAbortError) as exc:
            self._drop()
            raise MailboxUnavailable(
                f"selecting folder {folder!r} on {self.where} failed: {_describe(exc)}"
            ) from exc
        except imap_errors.IMAPClientError as exc:
            self._selected = None  # a failed SELECT leaves no folder selected (RFC 3501)
            self._lost(folder, _describe(exc))
            return False
        self._selected = folder
        self._validity[folder] = int(selected[b"UIDVALIDITY"])
        self._next_uid[folder] = int(selected.get(b"UIDNEXT", 0))
        # SELECT reports the folder's size as an EXISTS, and no notice will follow for what
        # it counts: UIDNEXT says whether anything came since the folder was last read.
        self._take_untagged_exists()
        quiet = self._quiet.get(folder)
        if quiet is None or self._next_uid[folder] != quiet[1]:
            self._dirty.add(folder)
        return True

    def _lost(self, folder: str, why: str) -> None:
        log.error(
            "folder %r on %s cannot be read (%s): no longer watched until the next reconnect; "
            "the other folders are",
            folder,
            self.where,
            why,
        )
        if folder in self._watched:
            self._watched.remove(folder)
        self._problems = (*self._problems, f"folder {folder!r} disappeared: {why}")
        self._dirty.discard(folder)
        watcher = self._watchers.pop(folder, None)
        if watcher is not None:
            _abandon(watcher)
        if not self._watched:
            self._dead("none of the watched folders is left")

    # -- NOTIFY ----------------------------------------------------------------------------

    def _notify(self, client: Any) -> None:
        names = b" ".join(bytes(client._normalise_folder(f)) for f in self._watched)
        args = [
            b"SET",
            b"(selected (MessageNew MessageExpunge))",
            b"(mailboxes (" + names + b") (MessageNew MessageExpunge))",
            b"(personal (MailboxName))",
        ]
        with self._mapped("asking for notifications (NOTIFY)"):
            typ, data = client._raw_command(b"NOTIFY", args, uid=False)
            client._checkok("notify", typ, data)

    # -- IDLE, one connection per folder ---------------------------------------------------

    def _open_watchers(self) -> None:
        for folder in list(self._watched):
            self._open_watcher(folder)
        self._watchers_refreshed = time.monotonic()

    def _open_watcher(self, folder: str) -> None:
        """A connection of its own that EXAMINEs ``folder`` and stays in IDLE."""
        watcher = self._connect()
        try:
            self._login(watcher)
            try:
                watcher.select_folder(folder, readonly=True)
            except imap_errors.IMAPClientAbortError:
                raise
            except imap_errors.IMAPClientError as exc:
                _abandon(watcher)
                self._lost(folder, _describe(exc))
                return
            watcher.idle()
        except (OSError, imap_errors.IMAPClientError) as exc:
            _abandon(watcher)
            raise MailboxUnavailable(
                f"watching {folder!r} on {self.where} failed: {_describe(exc)}"
            ) from exc
        except BaseException:
            _abandon(watcher)
            raise
        self._watchers[folder] = watcher

    def _watcher_ended(self, folder: str, why: str) -> None:
        """One folder's connection ended (the folder was deleted, or the server is going
        down, which the main connection will say): read the folder once more, which tells
        which, and watch it again from the next wait()."""
        log.info("the connection watching %r on %s ended (%s)", folder, self.where, why)
        watcher = self._watchers.pop(folder, None)
        if watcher is not None:
            _abandon(watcher)
        self._dirty.add(folder)

    def _close_watchers(self, *, gracefully: bool = True) -> None:
        watchers, self._watchers = self._watchers, {}
        for watcher in watchers.values():
            if not gracefully:
                _abandon(watcher)
                continue
            try:
                watcher.socket().settimeout(2.0)
                watcher.idle_done()
                watcher.logout()
            except Exception:  # closing never raises: whatever went wrong, the socket goes
                _abandon(watcher)

    def _wait_watchers(self, deadline: float) -> bool:
        empty: dict[str, int] = {}
        for folder in [f for f in self._watched if f not in self._watchers]:
            self._open_watcher(folder)
        while not self._mail_announced:
            now = time.monotonic()
            if deadline - now <= 0:
                return False
            if now - self._watchers_refreshed >= self.idle_refresh:
                self._refresh_watchers()
                continue
            chunk = min(deadline - now, self.idle_refresh - (now - self._watchers_refreshed))
            sockets = {w.socket(): f for f, w in self._watchers.items()}
            try:
                ready, _, _ = select.select(list(sockets), [], [], max(chunk, 0.0))
            except (OSError, ValueError) as exc:
                self._dead(f"waiting on the folders' connections failed: {exc}")
            for sock in ready:
                folder = sockets[sock]
                try:
                    responses = self._watchers[folder].idle_check(timeout=0)
                except (OSError, imap_errors.IMAPClientError) as exc:
                    self._watcher_ended(folder, _describe(exc))
                    continue
                if any(_is_bye(r) for r in responses):
                    self._watcher_ended(folder, "the server said BYE")
                    continue
                if not responses:
                    # Readable but nothing to read: imapclient swallowed an end of file.
                    empty[folder] = empty.get(folder, 0) + 1
                    if empty[folder] >= _FAST_EMPTY_LIMIT:
                        self._watcher_ended(folder, "the connection closed")
                    continue
                empty[folder] = 0
                if any(isinstance(r, tuple) and r[1:2] == (b"EXISTS",) for r in responses):
                    self._dirty.add(folder)
        return True

    def _refresh_watchers(self) -> None:
        # Servers may drop an IDLE after 30 minutes (RFC 2177): renew each one, with a NOOP
        # between so mail delivered meanwhile is announced.
        for folder, watcher in list(self._watchers.items()):
            with self._mapped(f"renewing IDLE on {folder!r}"):
                _text_reply, done = watcher.idle_done()
                _text_reply, noop = watcher.noop()
                watcher.idle()
            if any(isinstance(r, tuple) and r[1:2] == (b"EXISTS",) for r in [*done, *noop]):
                self._dirty.add(folder)
        self._watchers_refreshed = time.monotonic()

    # -- cursors ---------------------------------------------------------------------------

    def baseline(self, since: datetime) -> str:
        client = self._require()
        keep, self._keep = self._keep, None
        cursors = FolderCursors(since, dict(keep.positions) if keep else {})
        for folder in list(self._watched):
            if folder not in cursors.positions and self._select(client, folder):
                cursors.positions[folder] = (
                    self._validity[folder],
                    self._baseline_selected(client, since),
                )
        self._dirty.update(self._watched)
        return cursors.encode()

    def _baseline_selected(self, client: Any, since: datetime) -> int:
        """The last UID before mail received at or after ``since``, in the selected folder.

        As ImapMailbox.baseline: the date search reads the folder's last messages only, as
        many as needed to reach back to ``since`` (see ``_first_match``)."""
        self._sync(client)
        with self._mapped("searching by date"):
            # The highest UID first: mail arriving between the searches is after the cursor.
            highest = max(client.search(["UID", "*"]), default=0)
            criteria = self._since_criteria(client, since)
            first = _first_match(client, criteria) if criteria else None
        return int(first - 1 if first is not None else highest)

    # -- reading ---------------------------------------------------------------------------

    def fetch_new(self, cursor: str, limit: int = 100) -> Batch:
        client = self._require()
        cursors = FolderCursors.decode(cursor)
        self._note_untagged_exists()
        if self._relist:
            self._relist_now(client)
        positions = dict(cursors.positions)
        messages: list[FetchedMessage] = []
        read: list[str] = []
        count = len(self._watched)
        order = [self._watched[(self._rotation + i) % count] for i in range(count)]
        self._rotation = (self._rotation + 1) % max(count, 1)
        for folder in order:
            if len(messages) >= limit:
                break
            # Announced or not: a notice may still be on its way (Dovecot sends them about a
            # second late), and fetch_new must see all mail there is. STATUS tells cheaply.
            position = positions.get(folder)
            last_read = position[1] if position else None
            if folder not in self._dirty and not self._has_news(client, folder, last_read):
                continue
            if not self._select(client, folder):
                continue
            validity = self._validity[folder]
            if position is not None and position[0] != validity:
                self._dirty.update(read)
                self._keep = FolderCursors(
                    cursors.since, {f: p for f, p in cursors.positions.items() if f != folder}
                )
                raise CursorInvalid(
                    f"{folder!r} on {self.where} has UIDVALIDITY {validity}, the cursor was "
                    f"made for {position[0]}: UIDs were renumbered"
                )
            self._dirty.discard(folder)
            read.append(folder)
            last = position[1] if position else self._baseline_selected(client, cursors.since)
            uids, more = self._search_after(client, last, limit - len(messages))
            if more:
                self._dirty.add(folder)  # announced already: IDLE would not say it again
            if uids:
                with self._mapped(f"fetching new mail in {folder!r}"):
                    data = client.fetch(uids, _FETCH_ITEMS)
                self._note_untagged_exists()
                messages += [
                    replace(_to_fetched(uid, data[uid]), key=qualified_key(folder, str(uid)))
                    for uid in uids
                    if uid in data
                ]
                last = uids[-1]
            positions[folder] = (validity, last)
            if not more:
                self._quiet[folder] = (last, max(last + 1, self._next_uid.get(folder, 0)))
        return Batch(messages=messages, cursor=FolderCursors(cursors.since, positions).encode())

    def _search_after(self, client: Any, last: int, limit: int) -> tuple[list[int], bool]:
        """UIDs after ``last`` in the selected folder (at most ``limit``), and whether more
        are left."""
        with self._mapped("searching for new mail"):
            for _ in range(_SEARCH_ATTEMPTS):
                self._take_untagged_exists()
                found = client.search(["UID", f"{last + 1}:*"])
                if not self._take_untagged_exists():
                    break
                # New mail was noticed while the search ran, which looked at the folder as it
                # was before: search again.
            else:
                if self._selected is not None:
                    self._dirty.add(self._selected)
        newer = sorted(uid for uid in found if uid > last)
        return newer[: max(limit, 0)], len(newer) > max(limit, 0)

    # -- tags ------------------------------------------------------------------------------

    def _store_flags(
        self, keys: Sequence[str], keyword: str, *, add: bool, what: str | None = None
    ) -> None:
        by_folder: dict[str, list[str]] = {}
        for key in keys:
            folder, uid = _folder_and_uid(key)
            if folder is None:
                # A key of an earlier single-folder setup (its replies may still go out):
                # which folder it was in is not known, and a tag is only a courtesy.
                log.debug("not tagging %r: it names no folder", key)
                continue
            by_folder.setdefault(folder, []).append(uid)
        client = self._require()
        # The selected folder first: one SELECT fewer.
        for folder in sorted(by_folder, key=lambda f: f != self._selected):
            if not self._select(client, folder):
                raise MailboxError(f"cannot tag messages in {folder!r}: the folder is gone")
            super()._store_flags(by_folder[folder], keyword, add=add, what=what)

    def keywords(self, key: str) -> set[str]:
        folder, uid = _folder_and_uid(key)
        client = self._require()
        if folder is None or not self._select(client, folder):
            return set()
        return super().keywords(uid)

    def _visit(self, folder: str, read: Callable[[Any], object]) -> None:
        """``read(client)`` with ``folder`` selected read-only; the next command selects what
        it needs, and the next wait() looks at every folder once (mail may have come). The
        folder selected already is read where it is."""
        client = self._require()
        if self._selected is not None and same_folder(folder, self._selected):
            read(client)
            return
        self._note_untagged_exists()
        if not client.folder_exists(folder):
            return
        self._selected = None  # EXAMINE: no tags can be stored there
        client.select_folder(folder, readonly=True)
        read(client)
        self._take_untagged_exists()
        self._dirty.update(self._watched)

    # -- waiting ---------------------------------------------------------------------------

    def _wait_for_news(self, client: Any, deadline: float) -> bool:
        # ImapMailbox.wait has sent a NOOP first: the server reported what came since our
        # last command (and this connection stays alive while per-folder ones do the waiting).
        if self.mode == "IDLE":
            return self._wait_watchers(deadline)
        if self.mode == "NOTIFY" and self.use_idle and client.has_capability("IDLE"):
            return self._wait_idle(client, deadline)
        if self.mode == "NOTIFY":
            return self._wait_polling(client, deadline)  # NOOPs bring the STATUS notices
        return self._wait_status(client, deadline)

    def _wait_status(self, client: Any, deadline: float) -> bool:
        while not self._mail_announced:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(self.poll_interval, remaining))
            self._sync(client)
            for folder in list(self._watched):
                if folder != self._selected and self._has_news(client, folder, None):
                    self._dirty.add(folder)
        return True

    def _has_news(self, client: Any, folder: str, last: int | None) -> bool:
        """Whether a folder not selected may have mail after UID ``last`` (None: after what
        was last read): not when STATUS shows the UIDVALIDITY and UIDNEXT it had when a read
        from there found nothing more. The selected folder always may: SEARCH tells."""
        quiet = self._quiet.get(folder)
        if folder == self._selected or quiet is None or last not in (None, quiet[0]):
            return True
        self._note_untagged_exists()  # our STATUS answer must not mix with NOTIFY's notices
        try:
            status = client.folder_status(folder, ["UIDNEXT", "UIDVALIDITY"])
        except (OSError, imap_errors.IMAPClientAbortError) as exc:
            self._dead(f"asking for the status of {folder!r} failed: {_describe(exc)}")
        except imap_errors.IMAPClientError:
            return True  # reading it will say what is wrong
        uidnext = int(status.get(b"UIDNEXT", 0))
        validity = int(status.get(b"UIDVALIDITY", 0))
        return validity != self._validity.get(folder) or uidnext != quiet[1]


def _folder_and_uid(key: str) -> tuple[str | None, str]:
    """``"Clients/acme:42"`` -> ``("Clients/acme", "42")``; no folder for any other key."""
    try:
        folder, uid = split_key(key)
    except ValueError:
        return None, key
    return (folder, uid) if uid.isdigit() else (None, key)


def _folder_name(raw: Any) -> str:
    """A folder name as the server sent it (modified UTF-7 bytes, or a number) as text."""
    if isinstance(raw, bytes):
        return str(imap_utf7.decode(raw))
    return _text(str(raw))


__all__ = ["MAX_IDLE_CONNECTIONS", "ImapFoldersMailbox"]
