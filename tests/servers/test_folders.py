"""Several folders watched at once, against the real Dovecot + Postfix (mailstack.py).

The mailbox contract runs twice more: over NOTIFY (what Dovecot offers), and with NOTIFY
turned off so each folder gets its own IDLE connection; mail arrives in ``Clients/acme``
through a Sieve ``fileinto``, as a server-side filter files it. Then the whole responder: a
filed inquiry is answered once, a follow-up filed into another folder resolves its inquiry,
and a folder that disappears (or a pattern that matches nothing) is logged while the other
folders go on being answered.
"""

from __future__ import annotations

import email
import email.policy
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ooo.mailbox.base import FetchedMessage, FolderCursors
from ooo.mailbox.imap_folders import ImapFoldersMailbox
from tests.servers.test_imap import ONE_ROUND, SearchLog, doveadm, folder_uids, store_messages
from tests.support.mailbox_contract import (
    LONG_WAIT,
    PROMPT,
    Deliver,
    FolderContents,
    MailboxContract,
    Store,
    delivered_later,
    drain,
    message,
    subjects,
    unique,
)
from tests.support.mailstack import MailStack, User
from tests.support.responder import Responder, inquiry, wait_for

pytestmark = pytest.mark.servers

SENDER = "alice@example.org"
ACME = "Clients/acme"
# Mail to bob+acme@ (or with "[acme]" in its subject) is filed into Clients/acme at delivery.
FILE_INTO_ACME = f"""require ["fileinto", "mailbox", "envelope", "subaddress"];
if anyof (envelope :detail "to" "acme", header :contains "subject" "[acme]") {{
    fileinto :create "{ACME}";
}}
"""


def folders_mailbox(stack: MailStack, user: User, **overrides: Any) -> ImapFoldersMailbox:
    """An unopened mailbox watching INBOX and everything under Clients/."""
    options: dict[str, Any] = {
        "host": stack.host,
        "port": stack.imap_port,
        "security": "plain",
        "username": user.login,
        "password_provider": lambda: user.password,
        "folders": ["INBOX", "Clients/*"],
        "timeout": 10.0,
    }
    options.update(overrides)
    return ImapFoldersMailbox(**options)


def make_folders(stack: MailStack, user: User, *names: str) -> None:
    client = stack.imap(user)
    try:
        for name in names:
            if not client.folder_exists(name):
                client.create_folder(name)
    finally:
        client.logout()


class Acme:
    """Mail for Clients/acme: over SMTP and the Sieve ``fileinto``, or APPENDed."""

    def __init__(self, stack: MailStack, user: User) -> None:
        self.stack, self.user, self.count = stack, user, 0

    def deliver(self, raw: bytes) -> None:
        local, domain = self.user.address.split("@")
        self.stack.send(raw, SENDER, [f"{local}+acme@{domain}"])
        self.count += 1
        self.stack.wait_for_mail(self.user, self.count, folder=ACME)

    def store(self, raw: bytes, received_at: datetime | None) -> None:
        client = self.stack.imap(self.user)
        try:
            client.append(ACME, raw, msg_time=received_at)
        finally:
            client.logout()
        self.count += 1

    def contents(self, folder: str) -> list[tuple[bytes, frozenset[str]]]:
        client = self.stack.imap(self.user)
        try:
            client.select_folder(folder, readonly=True)
            uids = sorted(client.search(["ALL"]))
            if not uids:
                return []
            data = client.fetch(uids, ["BODY.PEEK[]", "FLAGS"])
            return [
                (data[u][b"BODY[]"], frozenset(_text(f) for f in data[u][b"FLAGS"])) for u in uids
            ]
        finally:
            client.logout()


def _text(flag: bytes | str) -> str:
    return flag.decode() if isinstance(flag, bytes) else flag


@pytest.fixture
def user(mail_stack: MailStack, mail_user: Callable[[str], User]) -> User:
    bob = mail_user("bob")
    make_folders(mail_stack, bob, ACME, "Clients/beta")
    mail_stack.set_sieve(bob, FILE_INTO_ACME)
    return bob


@pytest.fixture
def acme(mail_stack: MailStack, user: User) -> Acme:
    return Acme(mail_stack, user)


class _FoldersContract(MailboxContract):
    watched_folder = ACME

    @pytest.fixture
    def deliver(self, acme: Acme) -> Deliver:
        return acme.deliver

    @pytest.fixture
    def store(self, acme: Acme) -> Store:
        return acme.store

    @pytest.fixture
    def folder_contents(self, acme: Acme) -> FolderContents:
        return acme.contents

    @pytest.fixture
    def make_cursor_stale(self, mail_stack: MailStack, user: User) -> Callable[[], None]:
        def renumber() -> None:
            client = mail_stack.imap(user)
            try:
                validity = client.folder_status(ACME, ["UIDVALIDITY"])[b"UIDVALIDITY"]
            finally:
                client.logout()
            doveadm(
                mail_stack,
                "mailbox",
                "update",
                "-u",
                user.login,
                "--uid-validity",
                str(validity + 1),
                ACME,
            )

        return renumber

    @pytest.fixture
    def wrong_password_mailbox(self, mail_stack: MailStack, user: User) -> ImapFoldersMailbox:
        return folders_mailbox(mail_stack, user, password_provider=lambda: "wrong")

    @pytest.fixture
    def unreachable_mailbox(self, mail_stack: MailStack, user: User) -> ImapFoldersMailbox:
        from tests.servers.test_imap import closed_port

        return folders_mailbox(mail_stack, user, port=closed_port())


class TestFoldersOverNotify(_FoldersContract):
    """Several folders over NOTIFY pass the backend contract, mail filed by Sieve."""

    @pytest.fixture
    def mailbox(self, mail_stack: MailStack, user: User) -> Iterator[ImapFoldersMailbox]:
        box = folders_mailbox(mail_stack, user)
        box.open()
        yield box
        box.close()


class TestFoldersIdlePerFolder(_FoldersContract):
    """With NOTIFY off, one IDLE connection per folder passes the backend contract."""

    @pytest.fixture
    def mailbox(self, mail_stack: MailStack, user: User) -> Iterator[ImapFoldersMailbox]:
        box = folders_mailbox(mail_stack, user, use_notify=False)
        box.open()
        yield box
        box.close()


# -- how the folders are watched ---------------------------------------------------------------


def test_dovecot_is_watched_with_notify(mail_stack: MailStack, user: User) -> None:
    """Dovecot offers NOTIFY: one connection watches every folder; Sent, Drafts, Trash and
    Junk are never watched though "*" matches them."""
    box = folders_mailbox(mail_stack, user, folders=["*"])
    with box:
        watching = box.watching()
    assert watching.how.startswith("NOTIFY")
    assert set(watching.folders) == {"INBOX", ACME, "Clients/beta"}
    skipped = " ".join(watching.skipped)
    for name in ("Sent", "Drafts", "Trash", "Junk"):
        assert name in skipped


def test_idle_per_folder_fallback_wakes_for_each_folder(
    mail_stack: MailStack, user: User, acme: Acme
) -> None:
    """Without NOTIFY each folder has its own IDLE connection, and mail in any of them wakes
    wait(); past the connection limit it polls instead."""
    with folders_mailbox(mail_stack, user, use_notify=False) as box:
        assert box.watching().how.startswith("IDLE, one connection per folder (3)")
        _, cursor = drain(box, box.baseline(datetime.now(UTC)))
        beta = unique("beta")
        client = mail_stack.imap(user)
        try:
            with delivered_later(lambda raw: client.append("Clients/beta", raw), message(beta)):
                assert box.wait(LONG_WAIT) is True
        finally:
            client.logout()
        fetched, cursor = drain(box, cursor)
        assert subjects(fetched) == [beta]
        assert fetched[0].key.startswith("Clients/beta:")
    limited = folders_mailbox(mail_stack, user, use_notify=False, max_idle_connections=2)
    with limited:
        assert limited.watching().how.startswith("polling")


def test_polling_notices_mail_in_another_folder(
    mail_stack: MailStack, user: User, acme: Acme
) -> None:
    """With neither NOTIFY nor IDLE, STATUS polling finds mail in a folder not selected."""
    box = folders_mailbox(mail_stack, user, use_notify=False, use_idle=False, poll_interval=0.2)
    with box:
        _, cursor = drain(box, box.baseline(datetime.now(UTC)))
        box.keywords(f"INBOX:{1}")  # INBOX selected: the news must come from STATUS
        subject = unique("polled")
        with delivered_later(acme.deliver, message(subject)):
            assert box.wait(LONG_WAIT) is True
        fetched, _ = drain(box, cursor)
        assert subjects(fetched) == [subject]


def test_a_folder_created_under_a_pattern_is_watched_at_once(
    mail_stack: MailStack, user: User
) -> None:
    """Under NOTIFY a folder created under a watched pattern is picked up without a
    reconnect, and its mail is read from the baseline's start."""
    with folders_mailbox(mail_stack, user) as box:
        _, cursor = drain(box, box.baseline(datetime.now(UTC) - timedelta(minutes=1)))
        subject = unique("new client")
        client = mail_stack.imap(user)
        try:
            client.create_folder("Clients/gamma")
            client.append("Clients/gamma", message(subject))
        finally:
            client.logout()
        assert box.wait(LONG_WAIT) is True
        fetched = wait_for(lambda: drain(box, cursor)[0], PROMPT, "mail in Clients/gamma")
        assert subjects(fetched) == [subject]
        assert "Clients/gamma" in box.watching().folders


def test_missing_folder_and_empty_pattern_are_logged_and_the_rest_watched(
    mail_stack: MailStack, user: User, acme: Acme, caplog: pytest.LogCaptureFixture
) -> None:
    """A pattern that matches nothing and a folder that does not exist are logged as errors
    naming them; the folders that do exist are watched."""
    box = folders_mailbox(mail_stack, user, folders=["Nowhere/*", "Gone", ACME])
    with caplog.at_level(logging.ERROR, logger="ooo"), box:
        watching = box.watching()
        cursor = box.baseline(datetime.now(UTC))
        subject = unique("still answered")
        acme.deliver(message(subject))
        fetched, _ = drain(box, cursor)
    assert watching.folders == (ACME,)
    assert any("'Nowhere/*' matches no folder" in p for p in watching.problems)
    assert any("'Gone' does not exist" in p for p in watching.problems)
    assert "'Nowhere/*' matches no folder" in caplog.text
    assert "'Gone' does not exist" in caplog.text
    assert subjects(fetched) == [subject]


def read_until(
    box: ImapFoldersMailbox, cursor: str, wanted: Callable[[FetchedMessage], bool]
) -> list[FetchedMessage]:
    """Wait and read until some message is ``wanted``; those messages."""
    deadline = time.monotonic() + LONG_WAIT
    while time.monotonic() < deadline:
        fetched, cursor = drain(box, cursor)
        found = [m for m in fetched if wanted(m)]
        if found:
            return found
        box.wait(1.0)
    raise AssertionError("timed out waiting for the message")


@pytest.mark.parametrize("notify", [True, False])
def test_a_folder_that_disappears_is_logged_and_the_others_go_on(
    mail_stack: MailStack, user: User, acme: Acme, caplog: pytest.LogCaptureFixture, notify: bool
) -> None:
    """A watched folder deleted while ooo runs is logged as an error and left out; mail in
    the other folders is still read."""
    box = folders_mailbox(mail_stack, user, use_notify=notify)
    with caplog.at_level(logging.ERROR, logger="ooo"), box:
        _, cursor = drain(box, box.baseline(datetime.now(UTC)))
        client = mail_stack.imap(user)
        try:
            client.append("Clients/beta", message(unique("into beta")))
            client.delete_folder("Clients/beta")
        finally:
            client.logout()
        subject = unique("acme still")
        acme.deliver(message(subject))
        fetched = read_until(box, cursor, lambda m: m.key.startswith(ACME))
        assert subjects(fetched) == [subject]
        assert "Clients/beta" not in box.watching().folders
    assert "Clients/beta" in caplog.text


def test_the_cursor_holds_each_folders_place(mail_stack: MailStack, user: User, acme: Acme) -> None:
    """The cursor keeps UIDVALIDITY and the last UID per folder, so a reconnect reads each
    folder from where it was."""
    with folders_mailbox(mail_stack, user) as box:
        cursor = box.baseline(datetime.now(UTC))
        first = unique("first")
        acme.deliver(message(first))
        fetched, cursor = drain(box, cursor)
        assert subjects(fetched) == [first]
    positions = FolderCursors.decode(cursor).positions
    assert set(positions) == {"INBOX", ACME, "Clients/beta"}
    assert positions[ACME][1] >= 1
    second = unique("second")
    acme.deliver(message(second))
    with folders_mailbox(mail_stack, user) as box:
        fetched, _ = drain(box, cursor)
    assert subjects(fetched) == [second]


def test_the_baseline_reads_only_the_end_of_each_folder(mail_stack: MailStack, user: User) -> None:
    """Each folder's place is just before its first message received since the window's
    start, found as in one folder (ooo.mailbox.imap._first_match): the date search in a
    folder of 1,000 old messages reads only its last 256."""
    old = 1000
    now = datetime.now(UTC)
    store_messages(mail_stack, user, ACME, old, lambda i: now - timedelta(days=3 + i / 10))
    store_messages(mail_stack, user, ACME, 3, None)
    store_messages(mail_stack, user, "INBOX", 2, None)
    acme_validity, acme_uids = folder_uids(mail_stack, user, ACME)
    inbox_validity, inbox_uids = folder_uids(mail_stack, user, "INBOX")
    beta_validity, _ = folder_uids(mail_stack, user, "Clients/beta")
    with folders_mailbox(mail_stack, user) as box:
        searches = SearchLog(box)
        cursor = box.baseline(now - timedelta(hours=1))
        sizes = {ACME: len(acme_uids), "INBOX": len(inbox_uids), "Clients/beta": 0}
        read = searches.messages_read(sizes)
        fetched, _ = drain(box, cursor)
    assert FolderCursors.decode(cursor).positions == {
        ACME: (acme_validity, acme_uids[old] - 1),
        "INBOX": (inbox_validity, inbox_uids[0] - 1),
        "Clients/beta": (beta_validity, 0),
    }
    assert read <= ONE_ROUND + len(inbox_uids)
    # Acme's three messages received now, and the INBOX's two.
    assert sorted(subjects(fetched)) == sorted([f"message {i}" for i in (0, 1, 2, 0, 1)])


# -- the whole responder -------------------------------------------------------------------------


def _watch_folders(r: Responder, folders: str) -> None:
    """Add ``folders = ...`` to the responder's [mailbox] table."""
    text = r.config.read_text()
    sent = 'sent_folder = "Sent"\n'
    r.config.write_text(text.replace(sent, f"{sent}folders = {folders}\n", 1))


def _header(raw: bytes, name: str) -> str:
    return str(email.message_from_bytes(raw, policy=email.policy.default)[name])


def test_filed_inquiry_answered_once_and_follow_up_in_another_folder_resolves(
    mail_stack: MailStack, mail_user: Callable[[str], User], tmp_path: Path
) -> None:
    """The daemon watches INBOX and Clients/*: an inquiry a Sieve filter files into
    Clients/acme is answered once; the asker's "solved, thanks" to our reply, filed into
    INBOX, resolves that inquiry; `ooo check` lists each folder and NOTIFY."""
    bob, alice = mail_user("bob"), mail_user("alice")
    make_folders(mail_stack, bob, ACME)
    mail_stack.set_sieve(bob, FILE_INTO_ACME)
    r = Responder(mail_stack, bob, tmp_path)
    _watch_folders(r, '["INBOX", "Clients/*"]')
    check = r.cli("check")
    assert f"'{ACME}'" in check.stdout and "NOTIFY" in check.stdout, check.stdout + check.stderr
    r.start()
    try:
        raw = inquiry(alice, bob, "[acme] Export API")
        mail_stack.send(raw, alice.address, [bob.address])
        (reply,) = mail_stack.wait_for_mail(alice, 1, timeout=30)
        assert _header(reply, "In-Reply-To") == _header(raw, "Message-ID")
        r.wait_decided(1)
        ref = r.query("SELECT ref, key FROM message WHERE ref IS NOT NULL")
        assert len(ref) == 1 and ref[0][1].startswith(f"{ACME}:"), ref

        follow = inquiry(
            alice,
            bob,
            "Re: Export API",
            In_Reply_To=_header(reply, "Message-ID"),
            References=_header(reply, "Message-ID"),
        ).replace(b"could you help me with this?", b"Solved it myself, thanks!")
        mail_stack.send(follow, alice.address, [bob.address])
        r.wait_decided(2)
        wait_for(
            lambda: r.query("SELECT kind FROM signal WHERE ref = ?", ref[0][0]),
            30,
            "the follow-up's signal",
        )
        assert r.query("SELECT kind FROM signal WHERE ref = ?", ref[0][0])[0][0] == "resolved"
        # The same inquiry delivered again into the other folder is not answered twice.
        mail_stack.send(raw, alice.address, [bob.address])
        r.wait_decided(3)
        r.wait_all_sent()
        assert len(mail_stack.fetch_all(alice)) == 1
    finally:
        r.stop()
    assert "Traceback" not in r.log_text()


def test_a_key_without_a_folder_is_ignored(mail_stack: MailStack, user: User) -> None:
    """A message key of an earlier single-folder setup ("17") names no folder: tagging it
    does nothing and raises nothing, and its keywords are empty."""
    with folders_mailbox(mail_stack, user) as box:
        box.tag_many(["17"], "$OooReplied")
        assert box.keywords("17") == set()


def test_correspondents_then_the_folders_are_still_read(
    mail_stack: MailStack, user: User, acme: Acme
) -> None:
    """Reading the Sent folder's recipients (external_replies = "known") leaves every watched
    folder readable, and mail that came meanwhile is found."""
    client = mail_stack.imap(user)
    try:
        client.append("Sent", message("to a client", To="carol@client.example"))
    finally:
        client.logout()
    with folders_mailbox(mail_stack, user) as box:
        cursor = box.baseline(datetime.now(UTC))
        subject = unique("meanwhile")
        acme.deliver(message(subject))
        assert "carol@client.example" in box.correspondents("Sent")
        assert box.wait(LONG_WAIT) is True
        fetched, _ = drain(box, cursor)
        assert subjects(fetched) == [subject]


@pytest.mark.parametrize("watched", [ACME, "INBOX", "several"])
def test_inbox_holds_finds_the_report_by_its_exact_message_id(
    mail_stack: MailStack, user: User, acme: Acme, watched: str
) -> None:
    """The check a run makes before putting a pending report into the inbox (ooo.inbox): the
    exact Message-ID is found in INBOX, a longer one that contains it is not (IMAP's HEADER
    search matches substrings), and the watched folders are read as before afterwards, whether
    INBOX is another folder, the watched one (read where it is) or one of several."""
    from tests.servers.test_imap import imap_mailbox

    report = f"<ooo-report.{uuid.uuid4().hex}@example.com>"
    client = mail_stack.imap(user)
    try:
        client.append("INBOX", message("the report", **{"Message-ID": report}))
        longer = report.replace("@", ".2@")
        client.append("INBOX", message("another", **{"Message-ID": longer}))
    finally:
        client.logout()
    several = watched == "several"
    box = (
        folders_mailbox(mail_stack, user)
        if several
        else imap_mailbox(mail_stack, user, folder=watched)
    )
    with box:
        _, cursor = drain(box, box.baseline(datetime.now(UTC)))  # the two above, if watched
        assert box.inbox_holds(report) is True
        assert box.inbox_holds(report.replace("@", ".3@")) is False
        assert box.inbox_holds(report[:-5] + ">") is False
        subject = unique("after the check")
        if watched == "INBOX":
            mail_stack.send(message(subject), SENDER, [user.address])
        else:
            acme.deliver(message(subject))
        assert box.wait(LONG_WAIT) is True
        fetched, _ = drain(box, cursor)
        assert subjects(fetched) == [subject]
