"""The engine over a mailbox of several folders (the memory backend): what the folder in
each key and the per-folder cursor mean for answering, tagging and resolution."""

from __future__ import annotations

from datetime import timedelta

from ooo.engine import TAG_REPLIED
from ooo.mailbox.memory import MemoryMailbox
from tests.support.helpers import INSIDE, make_engine, raw_message, read


def several() -> MemoryMailbox:
    box = MemoryMailbox(folders=["INBOX", "Clients/*"])
    box.create_folder("Clients/acme")
    return box


def test_filed_inquiry_answered_once_and_tagged_in_its_folder() -> None:
    """An inquiry filed into Clients/acme is answered and tagged there; the same message
    in INBOX as well (a filter that copies) is not answered twice."""
    engine, box, transport, store, _ = make_engine(mailbox=several())
    acme = box.deliver(raw_message(), INSIDE, folder="Clients/acme")
    engine.sync()
    engine.flush()
    assert TAG_REPLIED in box.keywords(acme)
    inbox = box.deliver(raw_message(), INSIDE)  # the same Message-ID, copied into INBOX
    engine.sync()
    engine.flush()
    assert len(transport.sent) == 1
    assert TAG_REPLIED not in box.keywords(inbox)
    assert {m.reason for m in store.messages()} == {"reply", "duplicate_message"}


def test_follow_up_in_another_folder_resolves_its_inquiry() -> None:
    """A reply to our reply that lands in INBOX while the inquiry was filed into
    Clients/acme still links to the inquiry, and "solved" resolves it."""
    engine, box, transport, store, clock = make_engine(mailbox=several())
    box.deliver(raw_message(), INSIDE, folder="Clients/acme")
    engine.sync()
    engine.flush()
    ours = read(transport.sent[0].raw)["Message-ID"]
    clock.advance(hours=1)
    box.deliver(
        raw_message(
            subject="Re: A question",
            message_id="<m2@example.org>",
            extra={"In-Reply-To": ours, "References": ours},
            body="Never mind, solved it myself. Thanks!\n",
        ),
        INSIDE + timedelta(hours=1),
    )
    engine.sync()
    (inquiry,) = [m for m in store.messages() if m.ref]
    assert inquiry.key.startswith("Clients/acme:")
    follow = [m for m in store.messages() if m.follows]
    assert follow and follow[0].follows == inquiry.ref and follow[0].key.startswith("INBOX:")
    assert [s.kind for s in store.signals(inquiry.ref)] == ["resolved"]


def test_one_renumbered_folder_decides_nothing_twice() -> None:
    """After one folder's validity changes, the engine re-baselines: mail in that folder is
    recognised (no second decision, no second reply) and the other folder is not re-read."""
    engine, box, transport, store, _ = make_engine(mailbox=several())
    box.deliver(raw_message(), INSIDE, folder="Clients/acme")
    box.deliver(raw_message(sender="dave@example.org", message_id="<d@x>"), INSIDE)
    engine.sync()
    engine.flush()
    box.reset_validity("Clients/acme")
    engine.sync()
    engine.flush()
    assert len(transport.sent) == 2
    assert len(store.messages()) == 2


def test_a_key_from_a_single_folder_setup_is_ignored_not_fatal() -> None:
    """After switching from folder to folders, tagging a message of the old setup (its key
    names no folder) does nothing instead of failing the send that follows it."""
    box = several()
    with box:
        box.tag_many(["17"], TAG_REPLIED)
        assert box.keywords("17") == set()
