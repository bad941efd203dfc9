"""`ooo service`: the systemd unit, the launchd agent and the Windows command, written under a
temporary home with a recording stand-in for systemctl/launchctl (never the real ones)."""

from __future__ import annotations

import plistlib
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from ooo.host.service import (
    Host,
    install,
    launchd_plist,
    status,
    systemd_unit,
    uninstall,
    unit_path,
)
from tests.support.cli import ooo
from tests.support.configs import make_config

CONFIG = Path("/home/bob/My Config/ooo 100%.toml")


class Recorder:
    """Stands in for systemctl/launchctl: records each command, answers with ``returncode``."""

    def __init__(self, returncode: int = 0, stdout: str = "", missing: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.returncode, self.stdout, self.missing = returncode, stdout, missing

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        if self.missing:
            raise FileNotFoundError(argv[0])
        return subprocess.CompletedProcess(list(argv), self.returncode, self.stdout, "")


def host(tmp_path: Path, platform: str, run: Recorder, printed: list[str]) -> Host:
    return Host(
        platform=platform,
        home=tmp_path / "home",
        python="/opt/ooo venv/bin/python3",
        uid=501,
        run=run,
        print=printed.append,
    )


def test_the_systemd_unit_runs_this_interpreter_on_the_absolute_config(tmp_path: Path) -> None:
    """ExecStart is `<python> -m ooo run -c <config>`, quoted and with % and $ escaped;
    Restart=on-failure; journal logging; SIGHUP on reload."""
    text = systemd_unit(host(tmp_path, "linux", Recorder(), []), CONFIG)
    assert (
        'ExecStart="/opt/ooo venv/bin/python3" -m ooo run -c "/home/bob/My Config/ooo 100%%.toml"'
        in text
    )
    assert "Restart=on-failure" in text
    assert "StandardOutput=journal" in text
    assert "ExecReload=/bin/kill -HUP $MAINPID" in text
    assert "WantedBy=default.target" in text


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here"
)
def test_systemd_analyze_accepts_the_unit(tmp_path: Path) -> None:
    """`systemd-analyze verify` finds nothing to complain about in the generated unit."""
    unit = tmp_path / "ooo.service"
    real = Host("linux", tmp_path, sys.executable)
    unit.write_text(systemd_unit(real, Path("/tmp/a config %x $HOME.toml")))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "ooo.service" not in done.stdout + done.stderr, done.stdout + done.stderr


def test_install_writes_the_user_unit_and_enables_it(tmp_path: Path) -> None:
    """Linux: the unit goes to ~/.config/systemd/user/ooo.service, then daemon-reload and
    enable --now; uninstall disables and removes it."""
    run, printed = Recorder(), []
    h = host(tmp_path, "linux", run, printed)
    assert install(h, CONFIG) == 0
    path = tmp_path / "home" / ".config" / "systemd" / "user" / "ooo.service"
    assert unit_path(h) == path
    assert path.read_text() == systemd_unit(h, CONFIG)
    assert run.calls == [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", "--now", "ooo.service"],
    ]
    run.stdout = "active\n"
    assert status(h, CONFIG) == 0
    assert "service:   active" in printed
    assert uninstall(h, CONFIG) == 0
    assert not path.exists()
    assert ["systemctl", "--user", "disable", "--now", "ooo.service"] in run.calls
    assert status(h, CONFIG) == 3


def test_install_without_systemctl_keeps_the_file_and_says_what_to_run(tmp_path: Path) -> None:
    """No systemd (a container, WSL): the unit is written, the exit is 1, and the message
    names the command to run once systemd is there."""
    printed: list[str] = []
    h = host(tmp_path, "linux", Recorder(missing=True), printed)
    assert install(h, CONFIG) == 1
    assert unit_path(h).exists()
    assert any("systemctl is not installed" in line for line in printed)
    assert any("systemctl --user enable --now ooo.service" in line for line in printed)


def test_dry_run_prints_the_file_and_changes_nothing(tmp_path: Path) -> None:
    """--dry-run prints the unit under its path; nothing is written or run."""
    run, printed = Recorder(), []
    h = host(tmp_path, "linux", run, printed)
    assert install(h, CONFIG, dry_run=True) == 0
    assert printed[0] == f"# {unit_path(h)}"
    assert "Restart=on-failure" in printed[1]
    assert run.calls == [] and not (tmp_path / "home").exists()


def test_macos_gets_a_valid_launchd_agent(tmp_path: Path) -> None:
    """macOS: a plist (read back with plistlib) in ~/Library/LaunchAgents, loaded with
    launchctl bootstrap into the user's GUI domain, restarted unless it exited 0."""
    run, printed = Recorder(), []
    h = host(tmp_path, "darwin", run, printed)
    assert install(h, CONFIG) == 0
    path = tmp_path / "home" / "Library" / "LaunchAgents" / "local.ooo.responder.plist"
    agent = plistlib.loads(path.read_bytes())
    assert agent["Label"] == "local.ooo.responder"
    assert agent["ProgramArguments"] == [
        "/opt/ooo venv/bin/python3", "-m", "ooo", "run", "-c", str(CONFIG)
    ]  # fmt: skip
    assert agent["RunAtLoad"] is True
    assert agent["KeepAlive"] == {"SuccessfulExit": False}
    assert path.read_bytes() == launchd_plist(h, CONFIG)
    assert ["launchctl", "bootstrap", "gui/501", str(path)] in run.calls
    assert uninstall(h, CONFIG) == 0
    assert not path.exists()
    assert ["launchctl", "bootout", "gui/501/local.ooo.responder"] in run.calls


def test_windows_prints_the_task_scheduler_command(tmp_path: Path) -> None:
    """Windows: no failure, but the exact schtasks command, with the interpreter and config."""
    run, printed = Recorder(), []
    h = host(tmp_path, "win32", run, printed)
    assert install(h, CONFIG) == 0
    command = printed[1].strip()
    assert command.startswith('schtasks /Create /TN "ooo" /SC ONLOGON')
    assert '\\"/opt/ooo venv/bin/python3\\" -m ooo run -c' in command
    assert str(CONFIG) in command
    assert run.calls == []


def test_cli_dry_run_uses_the_current_interpreter_and_absolute_config(tmp_path: Path) -> None:
    """`ooo service install --dry-run` from the command line: the unit names sys.executable
    and the config's absolute path."""
    config = make_config(tmp_path)
    done = ooo("service", "install", "--dry-run", "-c", str(config), env={"HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    if sys.platform == "linux":
        assert f"ExecStart={sys.executable} -m ooo run -c {config.resolve()}" in done.stdout
        assert done.stdout.startswith(f"# {tmp_path}/.config/systemd/user/ooo.service")
