"""Config files for the tests: `GOOD`, the smallest valid config (a loopback IMAP and SMTP
server, a two-week window over new year), and builders that put it where a test needs it.

Tests that need a variant take `GOOD` and ``.replace()`` the lines they change, so what differs
from a working config is visible in the test itself."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ooo.config import Config, loads

GOOD = """
[owner]
name = "Bob Example"
addresses = ["Bob@Example.com"]
timezone = "Europe/Berlin"

[away]
start = 2026-12-20T00:00:00
end = 2027-01-05T09:00:00

[mailbox]
host = "127.0.0.1"
port = 1143
security = "plain"
username = "bob"
password_command = "printf secret"

[smtp]
host = "127.0.0.1"
port = 1587
security = "plain"
"""

#: `GOOD`'s away window (local times in Europe/Berlin) as instants.
GOOD_START = datetime(2026, 12, 19, 23, 0, tzinfo=UTC)  # 2026-12-20T00:00 in Berlin
GOOD_END = datetime(2027, 1, 5, 8, 0, tzinfo=UTC)


def write_config(tmp_path: Path, text: str = GOOD) -> Path:
    """``text`` as ``tmp_path/config.toml``, with its state dir in ``tmp_path/state``."""
    path = tmp_path / "config.toml"
    path.write_text(text + f'\n[state]\ndir = "{tmp_path / "state"}"\n')
    return path


def make_config(tmp_path: Path) -> Path:
    """`GOOD` as ``tmp_path/conf/config.toml`` (a folder of its own, as `ooo config edit`
    expects), with its state dir in ``tmp_path/state``."""
    path = tmp_path / "conf" / "config.toml"
    path.parent.mkdir()
    path.write_text(GOOD + f'\n[state]\ndir = "{tmp_path / "state"}"\n')
    return path


def daemon_config(tmp_path: Path) -> Config:
    """`GOOD`, loaded, for a daemon run in-process: state in ``tmp_path``, IDLE renewed every
    second."""
    text = GOOD.replace(
        'password_command = "printf secret"',
        'password_command = "printf secret"\nidle_refresh = "1s"',
    )
    return loads(text + f'\n[state]\ndir = "{tmp_path}"\n', tmp_path / "c.toml")
