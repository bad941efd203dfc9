"""A private D-Bus message bus for tests: Debian's ``dbus-daemon`` on a socket of its own.

Tests that need a bus (ooo's logind hook, ooo.handoff.sleep) must not touch the machine's
system bus, and a container may have none: :class:`PrivateBus` starts a real ``dbus-daemon``
with a minimal config (one unix socket under a temporary folder, anyone on it may own any
name and talk to anyone) and stops it at the end. Services a test needs (a fake logind) are
written in the test, on this real bus.

``dbus-daemon`` comes with Debian's ``dbus`` package (scripts/install-keyring installs it).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"""


class BusMissing(RuntimeError):
    """dbus-daemon is not installed."""


class PrivateBus:
    """``with PrivateBus() as bus: ... bus.address ...``: a running private bus."""

    def __init__(self) -> None:
        binary = shutil.which("dbus-daemon")
        if binary is None:
            raise BusMissing("dbus-daemon not found: install Debian's dbus package")
        self.root = Path(tempfile.mkdtemp(prefix="ooo-dbus-", dir="/tmp"))
        self.socket = self.root / "bus"
        self.address = f"unix:path={self.socket}"
        (self.root / "bus.conf").write_text(CONFIG.format(socket=self.socket))
        self._log = (self.root / "dbus.log").open("wb")
        self._proc = subprocess.Popen(
            [binary, "--config-file", str(self.root / "bus.conf"), "--nofork", "--nopidfile"],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"dbus-daemon did not start: {self.log_text()}")
            time.sleep(0.01)

    def log_text(self) -> str:
        return (self.root / "dbus.log").read_text(errors="replace")

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivateBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
