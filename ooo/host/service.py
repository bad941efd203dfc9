"""``ooo service install|uninstall|status``: run the daemon in the background, per user.

- Linux: a systemd user unit, ``~/.config/systemd/user/ooo.service``. Logs go to the journal
  (``journalctl --user -u ooo``); ``Restart=on-failure`` brings it back after a crash, but not
  after a clean end of the away window (exit 0) or a config the owner must fix (exit 2).
  ``ExecReload`` sends SIGHUP, so ``systemctl --user reload ooo`` re-reads the config.
- macOS: a launchd agent, ``~/Library/LaunchAgents/local.ooo.responder.plist``, restarted when
  it did not exit successfully; its stdout/stderr go to ``~/Library/Logs/ooo/``.
- Windows: the exact ``schtasks`` command is printed, to run (or adapt) by hand.

The daemon is started as ``<this interpreter> -m ooo run -c <absolute config path>``, so the
service runs the same installation (venv included) that installed it. Everything about the
machine (platform, home, uid, how commands run) is a :class:`Host`, so tests never touch the
real ``~/.config`` or the real service manager.
"""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ooo.host.files import write_atomic

UNIT_NAME = "ooo.service"
LAUNCHD_LABEL = "local.ooo.responder"
TASK_NAME = "ooo"

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)


@dataclass(frozen=True)
class Host:
    """The machine a service is installed on."""

    platform: str
    """``sys.platform``: "linux", "darwin", "win32"."""
    home: Path
    python: str
    uid: int = 0
    run: Runner = field(default=_run)
    print: Callable[[str], None] = field(default=lambda text: print(text))

    @classmethod
    def current(cls) -> Host:
        return cls(
            platform=sys.platform,
            home=Path.home(),
            python=sys.executable,
            uid=os.getuid() if hasattr(os, "getuid") else 0,
        )

    def command(self, config: Path) -> list[str]:
        return [self.python, "-m", "ooo", "run", "-c", str(config)]

    def call(self, argv: Sequence[str]) -> tuple[bool, str]:
        """Run a service-manager command: (succeeded, what it said)."""
        try:
            done = self.run(argv)
        except FileNotFoundError:
            return False, f"{argv[0]} is not installed"
        except subprocess.TimeoutExpired:
            return False, f"{argv[0]} did not answer within 60 s"
        said = (done.stdout + done.stderr).strip()
        return done.returncode == 0, said


# -- the files -------------------------------------------------------------------------------


def _systemd_word(arg: str) -> str:
    """One ExecStart argument: specifiers (%) and variables ($) escaped, quoted if needed."""
    escaped = arg.replace("%", "%%").replace("$", "$$")
    if any(c in escaped for c in " \t\"'\\;"):
        escaped = '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return escaped


def systemd_unit(host: Host, config: Path) -> str:
    exec_start = " ".join(_systemd_word(a) for a in host.command(config))
    return f"""\
# Written by `ooo service install`; remove with `ooo service uninstall`.
[Unit]
Description=ooo out-of-office responder ({str(config).replace("%", "%%")})

[Service]
Type=simple
ExecStart={exec_start}
ExecReload=/bin/kill -HUP $MAINPID
# Back after a crash; not after the away window ended (0) or a config to fix (2).
Restart=on-failure
RestartSec=30
RestartPreventExitStatus=2
Environment=PYTHONUNBUFFERED=1
StandardOutput=journal
StandardError=journal

[Install]
WantedBy=default.target
"""


def launchd_plist(host: Host, config: Path) -> bytes:
    logs = host.home / "Library" / "Logs" / "ooo"
    return plistlib.dumps(
        {
            "Label": LAUNCHD_LABEL,
            "ProgramArguments": host.command(config),
            "RunAtLoad": True,
            # Restart unless it exited 0 (the away window is over).
            "KeepAlive": {"SuccessfulExit": False},
            "ThrottleInterval": 30,
            "ProcessType": "Background",
            "EnvironmentVariables": {"PYTHONUNBUFFERED": "1"},
            "StandardOutPath": str(logs / "launchd.out.log"),
            "StandardErrorPath": str(logs / "launchd.err.log"),
        }
    )


def windows_command(host: Host, config: Path) -> str:
    python = host.python
    windowless = Path(python).with_name("pythonw.exe")
    if python.lower().endswith("python.exe") and windowless.exists():
        python = str(windowless)
    action = f'\\"{python}\\" -m ooo run -c \\"{config}\\"'
    return f'schtasks /Create /TN "{TASK_NAME}" /SC ONLOGON /RL LIMITED /F /TR "{action}"'


def unit_path(host: Host) -> Path:
    if host.platform == "darwin":
        return host.home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
    return host.home / ".config" / "systemd" / "user" / UNIT_NAME


def _write(path: Path, data: bytes) -> None:
    write_atomic(path, data, mode=0o644)  # the service manager reads it


# -- the commands ----------------------------------------------------------------------------


def _by_hand_on_windows(host: Host, action: str, config: Path) -> int:
    """Windows has no user units: print the Task Scheduler command that does ``action``."""
    if action == "install":
        host.print("Windows: create a logon task with this command (in a normal shell):")
        host.print("  " + windows_command(host, config))
    elif action == "uninstall":
        host.print(f'Windows: remove the task with: schtasks /Delete /TN "{TASK_NAME}" /F')
    else:
        host.print(f'Windows: see the task with: schtasks /Query /TN "{TASK_NAME}" /V')
    return 0


def install(host: Host, config: Path, dry_run: bool = False) -> int:
    if host.platform == "win32":
        return _by_hand_on_windows(host, "install", config)
    path = unit_path(host)
    data = (
        launchd_plist(host, config)
        if host.platform == "darwin"
        else systemd_unit(host, config).encode()
    )
    if dry_run:
        host.print(f"# {path}")
        host.print(data.decode().rstrip("\n"))
        return 0
    _write(path, data)
    host.print(f"wrote {path}")
    if host.platform == "darwin":
        host.call(["launchctl", "bootout", f"gui/{host.uid}/{LAUNCHD_LABEL}"])  # a previous one
        steps = [["launchctl", "bootstrap", f"gui/{host.uid}", str(path)]]
    else:
        steps = [
            ["systemctl", "--user", "daemon-reload"],
            ["systemctl", "--user", "enable", "--now", UNIT_NAME],
        ]
    for argv in steps:
        ok, said = host.call(argv)
        if not ok:
            host.print(f"could not start it: `{' '.join(argv)}` failed: {said or '(no output)'}")
            host.print(f"the file is in place; once fixed, run `{' '.join(steps[-1])}`")
            return 1
    if host.platform == "darwin":
        host.print("started; it starts again at every login. Logs: ~/Library/Logs/ooo/")
    else:
        host.print(
            "started; it starts again at every login. Logs: `journalctl --user -u ooo`.\n"
            "To keep it running while you are logged out: `loginctl enable-linger`"
        )
    return 0


def uninstall(host: Host, config: Path, dry_run: bool = False) -> int:
    if host.platform == "win32":
        return _by_hand_on_windows(host, "uninstall", config)
    path = unit_path(host)
    if host.platform == "darwin":
        steps = [["launchctl", "bootout", f"gui/{host.uid}/{LAUNCHD_LABEL}"]]
    else:
        steps = [["systemctl", "--user", "disable", "--now", UNIT_NAME]]
    if dry_run:
        host.print(f"would run {' '.join(steps[0])} and remove {path}")
        return 0
    if not path.exists():
        host.print(f"not installed ({path} does not exist)")
        return 0
    for argv in steps:
        ok, said = host.call(argv)
        if not ok:
            host.print(f"note: `{' '.join(argv)}` said: {said or '(no output)'}")
    path.unlink()
    if host.platform != "darwin":
        host.call(["systemctl", "--user", "daemon-reload"])
    host.print(f"removed {path}")
    return 0


def status(host: Host, config: Path, dry_run: bool = False) -> int:
    """Installed? Running? 0 when both, 3 when not running (like `systemctl is-active`)."""
    if host.platform == "win32":
        return _by_hand_on_windows(host, "status", config)
    path = unit_path(host)
    if not path.exists():
        host.print(f"not installed (no {path}); `ooo service install` installs it")
        return 3
    host.print(f"installed: {path}")
    if host.platform == "darwin":
        ok, said = host.call(["launchctl", "print", f"gui/{host.uid}/{LAUNCHD_LABEL}"])
        running = ok and "state = running" in said
        state = "running" if running else ("loaded, not running" if ok else "not loaded")
    else:
        ok, said = host.call(["systemctl", "--user", "is-active", UNIT_NAME])
        running = ok
        state = said.splitlines()[0] if said else "unknown"
    host.print(f"service:   {state}")
    pid = _daemon_pid(config)
    if pid:
        host.print(f"daemon:    pid {pid} holds the state lock")
    return 0 if running else 3


def _daemon_pid(config: Path) -> int | None:
    """The pid of a daemon running on this config's state, if the config can be read."""
    from ooo.app import state_dir
    from ooo.config import load
    from ooo.errors import OooError
    from ooo.host.lock import holder

    try:
        return holder(state_dir(load(config)))
    except OooError:
        return None


#: What ``ooo service ACTION`` can do, by name.
ACTIONS = {"install": install, "uninstall": uninstall, "status": status}
