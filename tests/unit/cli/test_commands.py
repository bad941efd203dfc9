"""How the command line is put together: one module per command group, dispatch through the
parser, choices read from the code that owns them, and `ooo status` said by a pure function
from the facts the command gathers."""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ooo.cli import _parser, main
from ooo.core.status import ReplyProblem, StatusFacts, fallback_lines, status_lines
from tests.support import ROOT
from tests.support.configs import write_config

BERLIN = ZoneInfo("Europe/Berlin")
T = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def choices(parser: argparse.ArgumentParser, dest: str) -> list[str]:
    action = next(a for a in parser._actions if a.dest == dest)
    assert action.choices is not None
    return list(action.choices)


def test_each_command_is_handled_by_its_own_module() -> None:
    """Every command names its handler in the parser (set_defaults), from the module of its
    group; `ooo --help` lists them in the order it always has."""
    commands = subcommands(_parser())
    assert list(commands) == [
        "run", "check", "preview", "status", "report", "demo",
        "resolve", "reopen", "secret", "config", "service",
    ]  # fmt: skip
    modules = {"resolve": "inquiries", "reopen": "inquiries"}
    argv = {"resolve": ["OOO-7K3Q9M", "--by", "owner"], "reopen": ["OOO-7K3Q9M"]}
    argv |= {"secret": ["set", "smtp"], "config": ["show"], "service": ["status"]}
    for name in commands:
        args = _parser().parse_args([name, *argv.get(name, [])])
        assert args.func.__module__ == f"ooo.cli.{modules.get(name, name)}", name
    config_actions = subcommands(commands["config"])
    assert list(config_actions) == ["show", "edit", "init", "set"]
    for action in config_actions:
        extra = ["k", "v"] if action == "set" else []
        args = _parser().parse_args(["config", action, *extra])
        assert args.func.__name__ == f"cmd_{action}"


def test_choices_come_from_the_code_that_owns_them() -> None:
    """Report formats, resolvers, password sections and service actions are read from the
    report, the tracking model, the config models and ooo.host.service."""
    from ooo.config import Config, PasswordSource, load
    from ooo.host import service
    from ooo.report import FORMATS, RESOLVERS

    commands = subcommands(_parser())
    assert choices(commands["report"], "format") == list(FORMATS)
    assert choices(commands["resolve"], "by") == list(RESOLVERS)
    example = load(ROOT / "config.example.toml")
    sources = [
        name for name in Config.model_fields if isinstance(getattr(example, name), PasswordSource)
    ]
    from ooo.core.network import WATCH_KINDS

    watched = [f"network.{kind}" for kind in sorted(WATCH_KINDS)]
    assert sources == ["mailbox", "smtp"]
    assert choices(commands["secret"], "section") == sources + watched
    actions = choices(commands["service"], "action")
    assert actions == ["install", "uninstall", "status"]
    assert all(callable(getattr(service, a)) for a in actions)


def test_a_choice_not_offered_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """A value outside the choices exits 2 and lists them, as argparse always has."""
    with pytest.raises(SystemExit) as exit_:
        main(["resolve", "OOO-7K3Q9M", "--by", "nobody"])
    assert exit_.value.code == 2
    assert "(choose from 'network', 'delegate', 'sender', 'owner')" in capsys.readouterr().err


#: A responder inside its window that has seen nothing yet.
QUIET = StatusFacts(
    now=T,
    window_start=datetime(2026, 1, 1, tzinfo=BERLIN),
    window_end=datetime(2027, 12, 1, tzinfo=BERLIN),
    timezone=BERLIN,
    status={},
    pid=None,
    cursor=None,
    epoch=0,
    counts={},
    reply_states={},
)


def test_status_lines_of_a_responder_that_has_seen_nothing() -> None:
    """The window with its phase, no process, no cursor, no messages, no replies."""
    assert status_lines(QUIET) == [
        "window:   2026-01-01 00:00 → 2027-12-01 00:00 Europe/Berlin (inside the away window)",
        "process:  not running",
        "cursor:   (none yet)",
        "messages: 0 seen, 0 answered",
        "replies:  none",
    ]
    before = status_lines(replace(QUIET, now=datetime(2025, 1, 1, tzinfo=UTC)))[0]
    after = status_lines(replace(QUIET, now=datetime(2028, 1, 1, tzinfo=UTC)))[0]
    assert before.endswith("(before the away window (armed))")
    assert after.endswith("(the away window is over)")


def test_status_lines_say_everything_recorded_in_the_owners_time() -> None:
    """Daemon state, process, cursor and baseline, counts by reason with their description,
    reply states, the problem replies, the valve and both errors, times in Berlin."""
    lines = status_lines(
        replace(
            QUIET,
            status={
                "state": ("watching", T),
                "valve": ("closed", T),
                "last_error": ("IMAP connection reset", T),
                "config_error": ("owner.timezone: bad", T),
            },
            pid=4242,
            cursor="17",
            epoch=2,
            counts={"reply": 3, "mailing_list": 2},
            reply_states={"sent": 1, "failed": 1, "uncertain": 1},
            uncertain=[ReplyProblem("dave@y.org", "x" * 60, "lost after DATA")],
            failed=[ReplyProblem("erin@z.org", "Hi", "550 no such user")],
        )
    )
    assert lines[1:] == [
        "daemon:   watching (as of 2026-06-01 12:00:00)",
        "process:  running, pid 4242",
        "cursor:   17 (baseline #2)",
        "messages: 5 seen, 3 answered",
        "      2  mailing_list               mailing-list mail (List-* headers)",
        "replies:  1 failed, 1 sent, 1 uncertain",
        f"  uncertain: to dave@y.org ({'x' * 50!r}): lost after DATA",
        "  failed: to erin@z.org: 550 no such user",
        "valve:    closed (as of 2026-06-01 12:00:00)",
        "last error: IMAP connection reset (at 2026-06-01 12:00:00)",
        "config error: owner.timezone: bad (since 2026-06-01 12:00:00; the daemon runs on the "
        "last good config)",
    ]


def test_status_with_an_invalid_config_says_what_it_still_knows() -> None:
    """Without a valid config: the process holding the state dir, its state and the config
    error, times as stored (UTC)."""
    status = {"state": ("watching", T), "config_error": ("bad", T), "valve": ("closed", T)}
    assert fallback_lines(Path("/s"), 7, status) == [
        "daemon:   running as pid 7 (state /s)",
        "state: watching (as of 2026-06-01 10:00:00 UTC)",
        "config error: bad (as of 2026-06-01 10:00:00 UTC)",
    ]
    assert fallback_lines(Path("/s"), None, {}) == ["daemon:   not running (state /s)"]


def test_status_command_reads_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`ooo status` gathers what the store recorded (cursor, counts, reply states, problem
    replies, status rows) and prints the lines of ooo.core.status."""
    from ooo import mailbox as mailboxes
    from ooo.app import open_store
    from ooo.config import load

    path = write_config(tmp_path)
    cfg = load(path)
    with open_store(cfg) as store, store.transaction():
        store.set_cursor(mailboxes.mailbox_id(cfg.mailbox), "17", T, new_epoch=True)
        rows = [
            store.record_message(
                mailbox="m", epoch=1, key=str(i), message_id=None, sender="a@x.org",
                from_name="A", subject=f"Question {i}", received_at=T, decided_at=T,
                reason=reason, detail="",
            )
            for i, reason in enumerate(["reply", "reply", "robot_sender"])
        ]  # fmt: skip
        for row, state in zip(rows[:2], ["uncertain", "sent"], strict=True):
            reply = store.queue_reply(
                message_row=row, recipient="a@x.org", message_id=f"<{row}@x>",
                envelope_from="", raw=b"x", now=T,
            )  # fmt: skip
            store.set_reply_state(reply, state, T, error="timeout" if state != "sent" else None)
        store.set_status("state", "watching", T)
    assert main(["status", "-c", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == [
        "daemon:   watching (as of 2026-06-01 12:00:00)",
        "process:  not running",
        "cursor:   17 (baseline #1)",
        "messages: 3 seen, 2 answered",
        "      1  robot_sender               the sender is a robot address (mailer-daemon, "
        "noreply, ...)",
        "replies:  1 sent, 1 uncertain",
        "  uncertain: to a@x.org ('Question 0'): timeout",
    ]


def test_resolve_and_reopen_record_the_owners_decision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ooo resolve REF --by network` and `ooo reopen REF` add signals to the inquiry, found
    whatever the case of the reference; an unknown reference is a clear error."""
    from ooo.app import open_store
    from ooo.config import load

    path = write_config(tmp_path)
    cfg = load(path)
    with open_store(cfg) as store, store.transaction():
        store.record_message(
            mailbox="m", epoch=1, key="1", message_id=None, sender="a@x.org", from_name="A",
            subject="Question", received_at=T, decided_at=T, reason="reply", detail="",
            ref="OOO-7K3Q9M",
        )  # fmt: skip
    assert main(["resolve", "ooo-7k3q9m", "--by", "network", "-c", str(path)]) == 0
    assert main(["reopen", "OOO-7K3Q9M", "-c", str(path), "--note", "not yet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "OOO-7K3Q9M (a@x.org: 'Question') resolved by network",
        "OOO-7K3Q9M (a@x.org: 'Question') is open again",
    ]
    with open_store(cfg) as store:
        signals = store.signals("OOO-7K3Q9M")
    assert [(s.kind, s.by, s.evidence) for s in signals] == [
        ("resolved", "network", "marked resolved by hand (by network)"),
        ("reopened", None, "not yet"),
    ]
    assert main(["reopen", "OOO-AAAAAA", "-c", str(path)]) == 2
    assert "no inquiry 'OOO-AAAAAA'" in capsys.readouterr().err
