"""Passwords in the OS keyring: a real Secret Service (gnome-keyring in a private D-Bus
session) used by `ooo secret set` and then by the daemon to log in; and the advice given when
there is no keyring at all."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.configs import make_config
from tests.support.mailstack import MailStack, User
from tests.support.responder import ROOT, Responder, inquiry, wait_for

FAIL_BACKEND = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def without_password_command(responder: Responder) -> None:
    """The config as a keyring user writes it: no password_command anywhere."""
    text = responder.config.read_text()
    kept = [line for line in text.splitlines() if not line.startswith("password_command")]
    responder.config.write_text("\n".join(kept) + "\n")


def test_without_a_keyring_secret_set_says_what_to_do(tmp_path: Path) -> None:
    """No keyring backend at all: `ooo secret set` names the three ways out (a Secret
    Service such as gnome-keyring, password_command, keyrings.alt and its caveat) and shows
    no traceback."""
    config = make_config(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "ooo", "secret", "set", "mailbox", "-c", str(config)],
        input="hunter2\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
        env={**os.environ, **FAIL_BACKEND},
    )
    assert done.returncode == 2
    err = done.stderr
    assert "cannot store the mailbox password" in err
    assert "gnome-keyring" in err and "password_command" in err and "keyrings.alt" in err
    assert "Traceback" not in err
    assert "hunter2" not in err


@pytest.mark.servers
def test_without_a_keyring_check_says_what_to_do(
    mail_stack: MailStack, mail_user: Callable[[str], User], tmp_path: Path
) -> None:
    """A config relying on the keyring, no keyring: `ooo check` fails the mailbox login with
    the same advice instead of keyring's generic error."""
    responder = Responder(mail_stack, mail_user("bob"), tmp_path)
    without_password_command(responder)
    done = subprocess.run(
        responder.command("check"),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
        env={**os.environ, **FAIL_BACKEND},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    (line,) = [ln for ln in done.stdout.splitlines() if ln.startswith("FAIL") and "mailbox" in ln]
    rest = done.stdout[done.stdout.index(line) :]
    assert "cannot read the mailbox password" in rest
    assert "dbus-run-session" in rest and "password_command" in rest
    assert "No recommended backend" not in done.stdout + done.stderr


@pytest.mark.servers
def test_without_a_keyring_the_daemon_says_what_to_do(
    mail_stack: MailStack, mail_user: Callable[[str], User], tmp_path: Path
) -> None:
    """`ooo run --once` with a keyring config and no keyring exits 2 with the advice, not a
    traceback or keyring's generic error."""
    responder = Responder(mail_stack, mail_user("bob"), tmp_path)
    without_password_command(responder)
    done = subprocess.run(
        responder.command("run", "--once"),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
        env={**os.environ, **FAIL_BACKEND},
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cannot read the mailbox password" in done.stderr
    assert "gnome-keyring" in done.stderr and "password_command" in done.stderr
    assert "Traceback" not in done.stderr
    assert "No recommended backend" not in done.stderr


@pytest.mark.servers
def test_secret_service_stores_the_password_the_daemon_logs_in_with(
    mail_stack: MailStack, mail_user: Callable[[str], User], tmp_path: Path
) -> None:
    """In a private D-Bus session with an unlocked gnome-keyring, `ooo secret set mailbox`
    and `ooo secret set smtp` store the password, and `ooo run --once` logs in with it and
    answers a waiting inquiry."""
    missing = [p for p in ("dbus-run-session", "gnome-keyring-daemon") if not shutil.which(p)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed: run scripts/install-keyring", pytrace=False
        )
    alice = mail_user("alice")
    responder = Responder(mail_stack, mail_user("bob"), tmp_path)
    without_password_command(responder)
    bob = responder.owner
    mail_stack.send(inquiry(alice, bob, "Keyring?"), alice.address, [bob.address])
    wait_for(lambda: mail_stack.fetch_all(bob), 30, "delivery to bob")

    ooo_cmd = f"{shlex.quote(sys.executable)} -m ooo"
    cfg = shlex.quote(str(responder.config))
    script = f"""
        set -e
        printf %s unlock-me | gnome-keyring-daemon --unlock --components=secrets >/dev/null
        printf '%s\\n' "$OOO_TEST_PASSWORD" | {ooo_cmd} secret set mailbox -c {cfg}
        printf '%s\\n' "$OOO_TEST_PASSWORD" | {ooo_cmd} secret set smtp -c {cfg}
        {ooo_cmd} run --once -c {cfg}
    """
    home = tmp_path / "home"  # gnome-keyring keeps its files here, not in the real home
    home.mkdir()
    outside = ("PYTHON_KEYRING_BACKEND", "DBUS_SESSION_BUS_ADDRESS")
    env = {k: v for k, v in os.environ.items() if k not in outside}
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_RUNTIME_DIR=str(home / "run"),
        OOO_TEST_PASSWORD=bob.password,
    )
    (home / "run").mkdir(mode=0o700)
    done = subprocess.run(
        ["dbus-run-session", "--", "sh", "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "stored the mailbox password in the keyring" in done.stdout
    assert "stored the smtp password in the keyring" in done.stdout
    (reply,) = mail_stack.wait_for_mail(alice, 1, timeout=30)
    assert b"Auto: Keyring?" in reply
    assert any((home / "data" / "keyrings").iterdir())
