"""The command line as a user meets it: demo, preview, status, and errors without tracebacks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT as SUPPORT_ROOT
from tests.support.cli import ooo
from tests.support.configs import GOOD, write_config

ROOT = SUPPORT_ROOT


def test_demo_runs_without_a_server_or_config(tmp_path: Path) -> None:
    """`ooo demo` shows replies and every kind of suppression, from any directory; and the
    network's story: a follower answers on Mastodon, a teammate in the internal room ooo
    asked, and the report's headline counts both (issue 12)."""
    done = ooo("demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "5 replies and 1 forward(s) to a delegate sent" in out
    assert "(OOO-" in out and "delegate_answered" in out and "sender_says_resolved" in out
    # Two more resolved than before the networks were watched: by the network, not a delegate.
    assert "4 resolved before you returned: 2 by your network, 2 by your delegate." in out
    assert "vip (listed as VIP: bigcustomer.example), cc Carol Colleague" in out
    assert "route[0] 'billing': subject contains 'invoice'" in out
    for reason in (
        "mailing_list",
        "null_return_path",
        "auto_submitted",
        "already_replied",
        "robot_sender",
        "not_addressed_to_owner",
    ):
        assert reason in out
    assert "Auto-Submitted: auto-replied" in out
    assert_the_networks_story(out)


def assert_the_networks_story(out: str) -> None:
    """What `ooo demo` shows of the networks, step by step, then in the report."""
    refs = dict(re.findall(r"'(Review of the Q1 plan|Contrat signé)'\n.*\n.*; (OOO-\w{6})", out))
    q1, contract = refs["Review of the Q1 plan"], refs["Contrat signé"]
    network = out[out.index("Meanwhile, ooo watched") : out.index("Back at the office")]
    assert "@bob@hachyderm.io on Mastodon and #team-help on Matrix (in memory here)" in network
    # The room: ooo asks for Carol (internal), by name, never with her address.
    notice = next(line for line in network.splitlines() if "ASK" in line)
    assert f"ooo posted a notice in #team-help about {q1}: “Carol Colleague asked" in notice
    assert "carol@example.com" not in notice
    assert f"→ {q1}: network_answered: resolved by your network, helped by @dan:example.com" in (
        network
    )
    # Mastodon: Grégoire asks with the tag, Gus answers, Grégoire thanks him.
    tag = "#" + contract.replace("-", "")
    assert "@gregoire@mastodon.social posted on Mastodon: “Question for my network" in network
    assert f"is away ({tag})" in network
    assert f"→ the question of {contract} (it carries the tag)" in network
    assert f"→ {contract}: network_answered: resolved by your network, helped by @gus@" in network
    assert f"→ {contract}: sender_says_resolved: resolved by your network, helped by @gus@" in (
        network
    )
    report = out[out.index("Back at the office") :]
    assert (
        f"{q1}  resolved by your network: @dan:example.com answered on Matrix "
        "(https://matrix.example.com/dan:example.com/"
    ) in report
    assert (
        f"{contract}  resolved by your network: @gus@fosstodon.org answered on Mastodon "
        "(https://hachyderm.io/gus@fosstodon.org/"
    ) in report
    assert "1 h 10 min after the question" in report
    assert "Sender said it is resolved on Mastodon, helped by @gus@fosstodon.org" in report
    assert "STILL OPEN (2)" in report


def test_the_demo_says_the_same_on_every_run(tmp_path: Path) -> None:
    """No thread and no wall clock in the demo's networks: two runs differ only in the random
    references."""
    runs = [ooo("demo", "--no-reply", cwd=tmp_path).stdout for _ in range(2)]
    first, second = (re.sub(r"OOO-?[0-9A-Z]{6}", "REF", run) for run in runs)
    assert first == second


def test_preview_shows_the_exact_reply(tmp_path: Path) -> None:
    """`ooo preview --from` prints the decision, the headers and every MIME part."""
    done = ooo(
        "preview",
        "-c",
        str(write_config(tmp_path)),
        "--from",
        "alice@example.org",
        "--subject",
        "Quick question",
    )
    assert done.returncode == 0, done.stderr
    assert "decision: reply" in done.stdout
    assert "Subject: Auto: Quick question" in done.stdout
    assert "--- part text/plain ---" in done.stdout
    assert "--- part text/html ---" in done.stdout


def test_preview_gives_the_reason_for_no_reply(tmp_path: Path) -> None:
    """`ooo preview` with a list header names the rule that suppresses the reply."""
    done = ooo(
        "preview",
        "-c",
        str(write_config(tmp_path)),
        "--from",
        "alice@example.org",
        "--header",
        "List-Id: <dev.lists.example.org>",
    )
    assert done.returncode == 0, done.stderr
    assert "decision: mailing_list" in done.stdout
    assert "no reply would be sent" in done.stdout


def test_preview_of_an_eml_file(tmp_path: Path) -> None:
    """`ooo preview --eml` reads a whole message."""
    eml = tmp_path / "m.eml"
    eml.write_bytes(
        b"From: Carol <carol@x.org>\nTo: bob@example.com\nSubject: Hi\n"
        b"Auto-Submitted: auto-replied\n\nbody\n"
    )
    done = ooo("preview", "-c", str(write_config(tmp_path)), "--eml", str(eml))
    assert "decision: auto_submitted" in done.stdout


def test_bad_config_is_one_clear_message_without_traceback(tmp_path: Path) -> None:
    """A broken config exits 2 and names file, line and key; no Python traceback."""
    path = write_config(
        tmp_path, GOOD.replace('timezone = "Europe/Berlin"', 'timezone = "Nowhere"')
    )
    done = ooo("check", "-c", str(path))
    assert done.returncode == 2
    assert f"{path}:5: owner.timezone: unknown time zone 'Nowhere'" in done.stderr
    assert "Traceback" not in done.stderr


def test_config_from_environment(tmp_path: Path) -> None:
    """$OOO_CONFIG is used when -c is not given."""
    import os

    env = {**os.environ, "OOO_CONFIG": str(tmp_path / "missing.toml")}
    done = subprocess.run(
        [sys.executable, "-m", "ooo", "status"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert f"no config file at {tmp_path / 'missing.toml'}" in done.stderr


def test_status_before_any_run(tmp_path: Path) -> None:
    """`ooo status` with no state yet says so instead of failing."""
    done = ooo("status", "-c", str(write_config(tmp_path)))
    assert done.returncode == 0
    assert "has not run" in done.stdout
