"""The holes an independent security and robustness probe found, each reproduced as the probe
did it: a hostile sender (header injection through message ids, spoofed resolutions, a
reference quoted by a stranger, a 270 KB filler header), a careless user (a config anyone can
write, `-c` before the command, `--output` to a directory) and the daemon's own honesty (a
dry run that claimed sends, a reload that switched to a broken template)."""

from __future__ import annotations

import email
import email.policy
import logging
import os
from pathlib import Path

import pytest

from ooo.app import check_templates, engine_settings
from ooo.cli import main
from ooo.config import load, loads
from ooo.core.authres import verdict
from ooo.core.parse import HEADER_CAP, message_id, parse
from ooo.core.policy import Reason
from ooo.daemon import Daemon
from ooo.engine import Engine
from ooo.errors import ConfigError
from ooo.mailbox.memory import MemoryMailbox
from ooo.report import build_report, to_json
from ooo.store import Store
from ooo.templating import Renderer
from ooo.transport.memory import MemoryTransport
from tests.support.configs import GOOD
from tests.support.helpers import (
    END,
    INSIDE,
    OWNER,
    START,
    Clock,
    make_engine,
    raw_message,
    tracked,
)

# The probe's message, byte for byte.
INJECTION = (
    b"Return-Path: <victim@example.test>\r\n"
    b"From: Innocent <victim@example.test>\r\n"
    b"To: bob@example.com\r\n"
    b"Subject: hello\r\n"
    b"Message-ID: <=?utf-8?q?x=0D=0AX-Injected:_yes=0D=0A=0D=0Ainjected_body?=@example.test>\r\n"
    b"\r\n"
    b"hi\r\n"
)
WITH_DELEGATE = """
[delegate]
name = "Carol Jones"
email = "carol@example.com"

[reply.internal]
cc_delegate = true
forward_to_delegate = true

[audiences]
internal_domains = ["example.test"]
"""


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(GOOD + extra + f'\n[state]\ndir = "{tmp_path / "state"}"\n')
    return path


def headers_of(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    return [line.split(":", 1)[0].lower() for line in head.split("\r\n") if line[:1] not in " \t"]


# --------------------------------------------------------------------------- message ids


def test_preview_of_the_probe_message_shows_no_injected_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ooo preview --eml` on the probe's message: the reply (and the forward to the delegate)
    carry no X-Injected line and no injected body; the hostile id is left out of the thread
    headers and the reply still goes out."""
    eml = tmp_path / "probe.eml"
    eml.write_bytes(INJECTION)
    code = main(["-c", str(write_config(tmp_path, WITH_DELEGATE)), "preview", "--eml", str(eml)])
    out = capsys.readouterr().out
    assert code == 0
    assert "=== reply: to victim@example.test" in out
    assert "=== forward to the delegate: to carol@example.com" in out
    assert "X-Injected" not in out
    assert "injected body" not in out
    assert "In-Reply-To" not in out


@pytest.mark.parametrize(
    "header",
    [
        "References: <a@b> <=?utf-8?q?=0D=0AX-Injected:_yes=0D=0A=0D=0Abody?=@x>",
        "In-Reply-To: <=?utf-8?q?=0D=0AX-Injected:_yes?=@x>",
        "References: <=?utf-8?b?DQpYLUluamVjdGVkOiB5ZXMNCg0KYm9keQ==?=@x>",
    ],
)
def test_hostile_thread_ids_are_dropped_from_every_outgoing_message(header: str) -> None:
    """A hostile In-Reply-To or References never reaches the reply, its Cc'd copy, its Sent
    copy or the forward; the valid ids next to it are kept."""
    raw = raw_message(
        message_id="<parent@example.org>",
        extra={header.split(":", 1)[0]: header.split(": ", 1)[1] + " <ok@example.org>"},
    )
    msg = parse("1", raw)
    assert msg.message_id == "<parent@example.org>"
    assert "<ok@example.org>" in (*msg.references, *msg.in_reply_to)
    assert all("=?" not in m for m in (*msg.references, *msg.in_reply_to))
    engine, mailbox, transport, _store, _ = make_engine()
    engine.settings = engine.settings.__class__(
        **{**engine.settings.__dict__, "sent_folder": "Sent"}
    )
    mailbox.deliver(raw, INSIDE)
    engine.sync()
    outgoing = [s.raw for s in transport.sent] + [m.raw for m in mailbox._folders["Sent"]]
    assert len(outgoing) == 2
    for out in outgoing:
        assert "x-injected" not in headers_of(out)
        back = email.message_from_bytes(out, policy=email.policy.default)
        assert back["In-Reply-To"] == "<parent@example.org>"
        assert "=?" not in str(back["References"])


def test_message_id_grammar() -> None:
    """RFC 5322 msg-id: dot-atom or a no-fold literal on the right; nothing else."""
    assert message_id("<a.b+c@example.org>") == "<a.b+c@example.org>"
    assert message_id("<x@[127.0.0.1]>") == "<x@[127.0.0.1]>"
    for bad in (
        "<no-at-sign>",
        "<a b@example.org>",
        "<a@b@c>",
        "<.a@b>",
        "<a..b@c>",
        "<=?utf-8?q?x=0D=0Ay?=@example.org>",  # atext only, but an encoded word
        "<a\r\nb@c>",
        "<a@b>>",
        "<" + "x" * 300 + "@example.org>",
    ):
        assert message_id(bad) is None, bad


def test_a_sender_address_with_an_encoded_word_is_recorded_not_answered() -> None:
    """An address the email package could decode on its way into To: is never answered."""
    engine, mailbox, transport, store, _ = make_engine()
    hostile = "=?utf-8?q?a=0D=0AX-Injected=3A_yes?=@example.org"  # all atext: a valid address
    mailbox.deliver(raw_message(sender="x@example.org", return_path=f"<{hostile}>"), INSIDE)
    engine.sync()
    assert transport.sent == []
    (row,) = store.messages()
    assert (row.reason, row.sender) == (Reason.NO_SENDER, hostile.lower())


# --------------------------------------------------------------------------- the config file


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
@pytest.mark.parametrize("mode", [0o664, 0o646, 0o666])
def test_a_config_others_can_write_is_refused_and_runs_no_command(
    tmp_path: Path, mode: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """A group- or world-writable config is refused with the chmod to run, and its
    password_command never runs."""
    marker = tmp_path / "ran"
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace("printf secret", f"touch {marker}; printf secret"))
    path.chmod(mode)
    with pytest.raises(ConfigError) as err:
        load(path)
    assert f"chmod go-w {path}" in (err.value.advice or "")
    assert main(["-c", str(path), "check"]) == 2
    assert "can be written by" in capsys.readouterr().err
    assert not marker.exists()


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_config_in_a_directory_others_can_write_is_refused(tmp_path: Path) -> None:
    """A writable directory above the config is refused too (sticky ones, like /tmp, are not:
    nobody else can replace what is ours in them)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    path = write_config(shared)
    shared.chmod(0o777)
    with pytest.raises(ConfigError) as err:
        load(path)
    assert f"chmod go-w {shared}" in (err.value.advice or "")
    shared.chmod(0o1777)
    assert load(path).owner.name == "Bob Example"


@pytest.mark.skipif(os.name != "posix" or os.getuid() != 0, reason="needs chown (root)")
def test_a_config_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    """A config file that belongs to someone else is refused, as ssh refuses one."""
    path = write_config(tmp_path)
    os.chown(path, 65534, 65534)
    with pytest.raises(ConfigError, match="owned by another user"):
        load(path)


def test_the_daemon_reload_refuses_a_writable_config_and_keeps_the_last_good(
    tmp_path: Path,
) -> None:
    """An edit that leaves the file group-writable is not applied: the daemon keeps the last
    good config, and `ooo status` shows why."""
    path = write_config(tmp_path)
    cfg = load(path)
    store = tracked(Store(tmp_path / "state" / "state.db"))
    d = Daemon(cfg, mailbox=MemoryMailbox(), transport=MemoryTransport(), store=store)
    engine, *_ = make_engine(store=store)
    path.write_text(path.read_text().replace('name = "Bob Example"', 'name = "Mallory"'))
    path.chmod(0o666)
    d.request_reload()
    d._maybe_reload(engine, store)
    assert d.config.owner.name == "Bob Example"
    assert "can be written by everyone" in store.status()["config_error"][0]


def test_global_config_option_before_or_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ooo -c FILE status` and `ooo status -c FILE` both use FILE (the probe found the first
    form silently using the default config: `ooo -c test.toml run` ran the real account)."""
    path = write_config(tmp_path)
    for argv in (["-c", str(path), "status"], ["status", "-c", str(path)]):
        assert main(argv) == 0, argv
        assert f"no state yet in {tmp_path / 'state'}" in capsys.readouterr().out
    assert main(["-c", str(path), "-v", "status"]) == 0


def test_check_without_a_config_points_to_config_init(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pip user has no config.example.toml to copy: the advice is `ooo config init`."""
    assert main(["-c", str(tmp_path / "missing.toml"), "check"]) == 2
    err = capsys.readouterr().err
    assert "ooo config init" in err
    assert "copy config.example.toml" not in err


def test_exchange_over_plain_http_off_loopback_is_refused() -> None:
    """service_endpoint = "http://..." to another host would send the password in clear."""
    text = GOOD.replace(
        'host = "127.0.0.1"\nport = 1143\nsecurity = "plain"\nusername = "bob"',
        'backend = "exchange"\nservice_endpoint = "http://mail.example.com/EWS/Exchange.asmx"\n'
        'username = "bob@example.com"',
    )
    with pytest.raises(ConfigError) as err:
        loads(text, Path("c.toml"))
    assert "is not https" in " ".join(err.value.problems)
    loopback = text.replace("http://mail.example.com", "http://127.0.0.1:8080")
    assert loads(loopback, Path("c.toml")).mailbox.backend == "exchange"


def test_secret_set_on_an_oauth_section_explains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing signs in with a password where auth is OAuth2: say so instead of storing one."""
    path = write_config(tmp_path)
    path.write_text(
        path.read_text().replace(
            'security = "plain"\nusername = "bob"\npassword_command = "printf secret"',
            'security = "plain"\nusername = "bob"\nauth = "xoauth2"\n'
            'token_command = "printf token"',
        )
    )
    assert main(["-c", str(path), "secret", "set", "mailbox"]) == 2
    err = capsys.readouterr().err
    assert "nothing uses a password there" in err and "printf token" in err


# --------------------------------------------------------------------------- resolutions


def setup_inquiry(**extra: str):  # type: ignore[no-untyped-def]
    engine, mailbox, transport, store, clock = make_engine()
    mailbox.deliver(raw_message(message_id="<q@example.org>", extra=extra or None), INSIDE)
    engine.sync()
    (ref,) = [r.ref for r in store.messages() if r.ref]
    return engine, mailbox, transport, store, clock, ref


def report_of(engine: Engine, store):  # type: ignore[no-untyped-def]
    return to_json(
        build_report(
            store.inquiry_facts(),
            store.signal_events(),
            store.suppressed_counts(),
            owner_name="Bob",
            timezone=engine.settings.reply.timezone,
            window_start=START,
            window_end=END,
            at=END,
        )
    )


def test_a_header_only_cc_of_the_asker_does_not_resolve() -> None:
    """A third party who knows the (public) reference and writes a header-only Cc: of the asker
    is not answering in the thread: no signal, and their mail is a new inquiry."""
    engine, mailbox, _transport, store, clock, ref = setup_inquiry()
    mailbox.deliver(
        raw_message(
            sender="mallory@evil.example",
            message_id="<m@evil.example>",
            subject=f"Re: {ref}",
            extra={"Cc": "alice@example.org"},
            body="The answer is: send your password to me.",
        ),
        clock.now,
    )
    engine.sync()
    assert store.signals(ref) == []
    assert report_of(engine, store)["inquiries"][0]["status"] == "open"


def test_a_forged_sender_that_fails_dmarc_is_recorded_unverified() -> None:
    """A "RESOLVED" from the asker's address that the owner's server says failed DMARC is kept
    as evidence, marked unverified, and does not change the status; the report counts it."""
    engine, mailbox, transport, store, clock, ref = setup_inquiry()
    ours = email.message_from_bytes(transport.sent[0].raw)["Message-ID"]
    mailbox.deliver(
        raw_message(
            message_id="<forged@evil.example>",
            subject="Re: A question",
            extra={
                "Authentication-Results": "mx.example.com; spf=fail smtp.mailfrom=evil.example;"
                " dkim=none; dmarc=fail header.from=example.org",
                "In-Reply-To": ours,
            },
            body="RESOLVED, thanks!",
        ),
        clock.now,
    )
    engine.sync()
    (signal,) = store.signals(ref)
    assert signal.unverified == "dmarc=fail"
    (inquiry,) = report_of(engine, store)["inquiries"]
    assert inquiry["status"] == "open"
    assert inquiry["unverified_signals"] == 1
    assert "Not counted" in inquiry["last_event"] and "dmarc=fail" in inquiry["last_event"]


def test_a_passing_dmarc_verdict_resolves_as_before() -> None:
    """The same message with dmarc=pass resolves the inquiry."""
    engine, mailbox, transport, store, clock, _ref = setup_inquiry()
    ours = email.message_from_bytes(transport.sent[0].raw)["Message-ID"]
    mailbox.deliver(
        raw_message(
            message_id="<real@example.org>",
            extra={
                "Authentication-Results": "mx.example.com; dmarc=pass header.from=example.org",
                "In-Reply-To": ours,
            },
            body="RESOLVED, thanks!",
        ),
        clock.now,
    )
    engine.sync()
    assert report_of(engine, store)["inquiries"][0]["status"] == "resolved"


def test_only_the_owner_servers_verdict_counts() -> None:
    """With authserv_id set, a forged Authentication-Results further down (added by the
    attacker's own server) is ignored; without it, only the topmost header counts."""
    raw = raw_message(
        extra={"Authentication-Results": "evil.example; dmarc=pass header.from=example.org"}
    )
    forged_below = (
        b"Authentication-Results: mx.example.com; dmarc=fail header.from=example.org\r\n" + raw
    )
    msg = parse("1", forged_below)
    assert verdict(msg).status == "fail"
    assert verdict(msg, "mx.example.com").status == "fail"
    assert verdict(parse("1", raw), "mx.example.com").status == "none"


def test_a_mail_listing_many_guessed_references_resolves_nothing() -> None:
    """One mail with 1,450 guessed references (the real one among them) links to nothing:
    only the first few references in a message are read."""
    engine, mailbox, _transport, store, clock, ref = setup_inquiry()
    guesses = [f"OOO-{i:06d}".replace("0", "A", 1) for i in range(1450)]
    guesses.insert(700, ref)
    mailbox.deliver(
        raw_message(
            message_id="<spray@example.org>",
            subject="resolved",
            body="RESOLVED " + " ".join(guesses),
        ),
        clock.now,
    )
    engine.sync()
    assert store.signals(ref) == []


def test_a_new_question_quoting_another_senders_reference_is_a_new_inquiry() -> None:
    """ "My colleague got reference OOO-... from you; who approves the Q3 budget?" from a new
    sender gets its own reply and inquiry; the related reference is noted."""
    engine, mailbox, transport, store, clock, ref = setup_inquiry()
    mailbox.deliver(
        raw_message(
            sender="dave@partner.example",
            message_id="<dave@partner.example>",
            subject="Q3 budget",
            body=f"My colleague got reference {ref} from you; who approves the Q3 budget?",
        ),
        clock.now,
    )
    engine.sync()
    assert [s.recipients[0] for s in transport.sent] == [
        "alice@example.org",
        "dave@partner.example",
    ]
    row = store.messages()[-1]
    assert row.ref and row.ref != ref and row.follows is None
    assert f"mentions {ref}" in row.detail


def test_the_asker_and_those_in_the_inquiry_may_cite_the_reference() -> None:
    """The asker, someone copied on the inquiry, and the delegate link by reference."""
    engine, mailbox, _transport, store, clock, ref = setup_inquiry(Cc="zed@x.org")
    for sender in ("alice@example.org", "zed@x.org", "carol@example.com"):
        mailbox.deliver(
            raw_message(sender=sender, message_id=f"<{sender}>", subject=f"About {ref}"),
            clock.now,
        )
    engine.sync()
    assert [r.follows for r in store.messages()[1:]] == [ref, ref, ref]


def test_a_third_party_answer_counts_only_inside_the_thread() -> None:
    """An answer to the asker that only quotes the reference (no thread ids) is not a
    resolution by the network, even from someone copied on the inquiry."""
    engine, mailbox, _transport, store, clock, ref = setup_inquiry(Cc="zed@x.org")
    mailbox.deliver(
        raw_message(
            sender="zed@x.org",
            message_id="<z@x.org>",
            subject=f"About {ref}",
            extra={"To": "alice@example.org", "Cc": OWNER},
            body="Alice, the answer is 42: use the export endpoint.",
        ),
        clock.now,
    )
    engine.sync()
    assert store.messages()[-1].follows == ref
    assert store.signals(ref) == []


# --------------------------------------------------------------------------- robustness


def test_a_cut_header_is_never_answered() -> None:
    """A 270 KB filler header pushes List-Id past the 256 KB cut: not answered, and the reason
    says why (oversized_header)."""
    filler = "".join(f"X-Filler-{i}: {'x' * 900}\r\n" for i in range(300)).encode()
    raw = raw_message(extra={"List-Id": "<list.example.org>"})
    head, _, body = raw.partition(b"\r\n\r\n")
    hostile = filler + head + b"\r\n\r\n" + body
    assert len(hostile.split(b"\r\n\r\n")[0]) > HEADER_CAP
    engine, mailbox, transport, store, _ = make_engine()
    mailbox.deliver(hostile, INSIDE)
    engine.sync()
    assert transport.sent == []
    assert store.messages()[0].reason == "oversized_header"


def test_report_output_to_a_directory_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--output naming a directory, or a file in a missing directory, is exit 2 with advice,
    not "internal error ... IsADirectoryError" (exit 70)."""
    path = write_config(tmp_path)
    (tmp_path / "state").mkdir()
    tracked(Store(tmp_path / "state" / "state.db"))
    assert main(["-c", str(path), "report", "--output", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    missing = tmp_path / "nope" / "r.html"
    assert main(["-c", str(path), "report", "--format", "html", "--output", str(missing)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["-c", str(path), "report", "--output", str(tmp_path / "r.txt")]) == 0


def test_a_dry_run_never_claims_a_send(caplog: pytest.LogCaptureFixture) -> None:
    """--dry-run logs "would send", and never "replied to"."""
    engine, mailbox, transport, _store, _ = make_engine(dry_run=True)
    caplog.set_level(logging.INFO, logger="ooo")
    mailbox.deliver(raw_message(), INSIDE)
    engine.sync()
    assert "dry run: would send" in caplog.text
    assert "replied to" not in caplog.text
    assert transport.sent == []


def test_a_reload_with_a_broken_template_keeps_the_last_good_one(tmp_path: Path) -> None:
    """SIGHUP after a template edit renders every template first: a broken one is reported
    (status) and the running templates stay; a fixed one is taken."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "reply.txt.j2").write_text("Away until {{ back_on }}.\n")
    path = write_config(tmp_path, f'\n[templates]\ndir = "{templates}"\n')
    cfg = load(path)
    store = tracked(Store(tmp_path / "state" / "state.db"))
    d = Daemon(cfg, mailbox=MemoryMailbox(), transport=MemoryTransport(), store=store)
    engine, mailbox, transport, _, _clock = make_engine(store=store, clock=Clock(INSIDE))
    engine.settings = engine_settings(cfg)
    engine.renderer = Renderer(templates)
    good = engine.renderer
    check_templates(cfg, good)  # what the daemon does at start: every template read once
    (templates / "reply.txt.j2").write_text("Away until {{ back_on \n")
    d.request_reload()
    d._maybe_reload(engine, store)
    assert engine.renderer is good
    assert "reply.txt.j2" in store.status()["config_error"][0]
    mailbox.deliver(raw_message(), INSIDE)
    engine.sync()
    assert b"Away until" in transport.sent[0].raw
    (templates / "reply.txt.j2").write_text("Back {{ back_on }}.\n")
    d.request_reload()
    d._maybe_reload(engine, store)
    assert engine.renderer is not good
    assert "config_error" not in store.status()
