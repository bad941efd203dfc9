"""Resolution tracking in the engine: follow-ups are linked to their inquiry, classified into
signals with evidence, never answered, and the mailbox keywords follow the derived status."""

from __future__ import annotations

import email
import email.policy

from ooo.engine import TAG_OPEN, TAG_RESOLVED, normalize_subject
from tests.support.helpers import INSIDE, OWNER, make_engine, raw_message


def reply_id(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return str(msg["Message-ID"])


def setup_inquiry():  # type: ignore[no-untyped-def]
    engine, mailbox, transport, store, clock = make_engine()
    mailbox.deliver(raw_message(message_id="<q@example.org>", subject="Export API"), INSIDE)
    engine.sync()
    (row,) = [r for r in store.messages() if r.ref]
    return engine, mailbox, transport, store, clock, row.ref


def test_sender_resolves_by_replying_to_our_reply() -> None:
    """ "RESOLVED" in a reply to our reply resolves the inquiry by the sender; no new reply."""
    engine, mailbox, transport, store, clock, ref = setup_inquiry()
    ours = reply_id(transport.sent[0].raw)
    clock.advance(hours=3)
    mailbox.deliver(
        raw_message(
            message_id="<f1@example.org>",
            subject="Re: Auto: Export API",
            extra={"In-Reply-To": ours, "References": ours},
            body="RESOLVED - a colleague found it.\n\n> Your reference is\n",
        ),
        clock.now,
    )
    engine.sync()
    assert len(transport.sent) == 1
    (signal,) = store.signals(ref)
    assert (signal.kind, signal.by, signal.rule) == (
        "resolved",
        "sender",
        "sender_says_resolved",
    )
    assert "RESOLVED" in signal.evidence
    follow = store.messages()[-1]
    assert (follow.reason, follow.follows) == ("follow_up", ref)
    assert mailbox.messages[0].keywords >= {TAG_RESOLVED}
    assert TAG_OPEN not in mailbox.messages[0].keywords


def test_new_inquiry_is_tagged_open() -> None:
    """An inquiry's original message carries $OooOpen until something resolves it."""
    _, mailbox, *_ = setup_inquiry()
    assert TAG_OPEN in mailbox.messages[0].keywords


def test_linked_by_reference_in_the_subject() -> None:
    """A message that names the reference is linked even without thread headers, when its
    writer may know it: here someone the asker copied on the inquiry."""
    engine, mailbox, _transport, store, clock = make_engine()
    mailbox.deliver(raw_message(message_id="<q@example.org>", extra={"Cc": "zed@x.org"}), INSIDE)
    engine.sync()
    (ref,) = [r.ref for r in store.messages() if r.ref]
    mailbox.deliver(
        raw_message(
            sender="zed@x.org",
            message_id="<z@x>",
            subject=f"About {ref.lower()}",
            extra={"Cc": "alice@example.org"},
            body="Alice, the answer is 42.",
        ),
        clock.now,
    )
    engine.sync()
    assert store.messages()[-1].follows == ref


def test_linked_by_normalised_subject_and_sender() -> None:
    """The same sender writing "AW: Re: Export API" is a follow-up, not a new inquiry."""
    engine, mailbox, transport, store, clock, ref = setup_inquiry()
    mailbox.deliver(
        raw_message(
            message_id="<f2@x>", subject="AW: Re: Export API", body="still need this, it's urgent"
        ),
        clock.now,
    )
    engine.sync()
    (signal,) = store.signals(ref)
    assert (signal.kind, signal.flagged) == ("open", True)
    assert len(transport.sent) == 1


def test_delegate_in_the_thread_resolves_it() -> None:
    """The delegate answering the sender in the thread resolves it by the delegate."""
    engine, mailbox, transport, store, clock, ref = setup_inquiry()
    mailbox.deliver(
        raw_message(
            sender="carol@example.com",
            to="alice@example.org",
            message_id="<d@x>",
            subject="Re: Export API",
            extra={"Cc": OWNER, "In-Reply-To": "<q@example.org>"},
            body="Hi Alice, use the /v2/export endpoint with format=csv.",
        ),
        clock.now,
    )
    engine.sync()
    (signal,) = store.signals(ref)
    assert (signal.by, signal.rule) == ("delegate", "delegate_answered")
    assert len(transport.sent) == 1  # the delegate is not answered either


def test_third_party_in_the_thread_resolves_it_by_the_network() -> None:
    """Someone else answering the sender in the thread resolves it by the network."""
    engine, mailbox, _transport, store, clock, ref = setup_inquiry()
    mailbox.deliver(
        raw_message(
            sender="ana@elsewhere.org",
            to="alice@example.org",
            message_id="<n@x>",
            subject="Re: Export API",
            extra={
                "Cc": OWNER,
                "References": "<q@example.org>",
                "From": "Ana Network <ana@elsewhere.org>",
            },
            body="Alice, the export takes a format parameter.",
        ),
        clock.now,
    )
    engine.sync()
    (signal,) = store.signals(ref)
    assert (signal.by, signal.rule) == ("network", "network_answered")
    assert signal.helper == "Ana Network"


def test_still_open_then_solved() -> None:
    """A sender who first says "still need this" and later "solved" ends up resolved."""
    engine, mailbox, _transport, store, clock, ref = setup_inquiry()
    for i, body in enumerate(["I still need this, please.", "Solved it myself, thanks!"]):
        clock.advance(hours=1)
        mailbox.deliver(
            raw_message(
                message_id=f"<s{i}@x>",
                subject="Re: Export API",
                extra={"In-Reply-To": "<q@example.org>"},
                body=body,
            ),
            clock.now,
        )
        engine.sync()
    assert [s.kind for s in store.signals(ref)] == ["open", "resolved"]
    assert TAG_RESOLVED in mailbox.messages[0].keywords


def test_automated_mail_in_the_thread_is_no_signal() -> None:
    """An auto-reply in the thread ("resolved" in it or not) is recorded as automated only."""
    engine, mailbox, _transport, store, clock, ref = setup_inquiry()
    mailbox.deliver(
        raw_message(
            message_id="<a@x>",
            subject="Re: Export API",
            extra={"In-Reply-To": "<q@example.org>", "Auto-Submitted": "auto-replied"},
            body="Resolved tickets are closed automatically.",
        ),
        clock.now,
    )
    engine.sync()
    assert store.signals(ref) == []
    assert store.messages()[-1].reason == "auto_submitted"


def test_a_new_topic_within_the_interval_is_a_new_inquiry() -> None:
    """A second, unrelated message from an answered sender is its own inquiry (no reply)."""
    engine, mailbox, _transport, store, clock, ref = setup_inquiry()
    mailbox.deliver(raw_message(message_id="<new@x>", subject="Something else"), clock.now)
    engine.sync()
    last = store.messages()[-1]
    assert last.reason == "already_replied"
    assert last.ref and last.ref != ref


def test_manual_resolve_updates_the_keywords() -> None:
    """An owner's `ooo resolve` (a signal row) is reflected on the message at the next sync."""
    engine, mailbox, _transport, store, clock, ref = setup_inquiry()
    with store.transaction():
        store.add_signal(
            ref=ref,
            at=clock.now,
            kind="resolved",
            by="owner",
            rule="owner_resolved",
            evidence="done",
        )
    engine.sync()
    assert TAG_RESOLVED in mailbox.messages[0].keywords
    with store.transaction():
        store.add_signal(
            ref=ref,
            at=clock.now,
            kind="reopened",
            by=None,
            rule="owner_reopened",
            evidence="not really",
        )
    engine.sync()
    assert mailbox.messages[0].keywords >= {TAG_OPEN}
    assert TAG_RESOLVED not in mailbox.messages[0].keywords


def test_normalize_subject() -> None:
    """Reply and forward prefixes in several languages are stripped; case and spaces folded."""
    assert normalize_subject("Re: AW: Fwd:  The  Plan") == "the plan"
    assert normalize_subject("SV: VS: TR: RV: WG: Antw: plan") == "plan"
    assert normalize_subject("Re[2]: plan") == "plan"
    assert normalize_subject("Regarding the plan") == "regarding the plan"
