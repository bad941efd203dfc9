"""The config file: the example is valid, and every mistake is named with file, line and key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from ooo.config import load, loads, parse_duration
from ooo.errors import ConfigError
from tests.support import ROOT as SUPPORT_ROOT

# moved to tests/support/configs.py; kept for importers outside this change
from tests.support.configs import GOOD

ROOT = SUPPORT_ROOT


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        loads(text, Path("/etc/ooo.toml"))
    return err.value.problems


def test_the_example_config_is_valid() -> None:
    """config.example.toml, shipped as documentation, loads as it is."""
    cfg = load(ROOT / "config.example.toml")
    assert cfg.away.reply_interval == timedelta(days=7)


def test_local_times_are_in_the_owner_time_zone() -> None:
    """A window without an offset is read in owner.timezone; addresses are lowercased."""
    cfg = loads(GOOD, Path("c.toml"))
    assert cfg.away.start.isoformat() == "2026-12-20T00:00:00+01:00"
    assert cfg.owner.addresses == ["bob@example.com"]


def test_unknown_key_is_an_error_with_its_line() -> None:
    """A typo'd key is reported with file, line and key path, not silently ignored."""
    text = GOOD.replace('timezone = "Europe/Berlin"', 'timezone = "Europe/Berlin"\ntimezon = 1')
    (problem,) = problems(text)
    assert problem.startswith("/etc/ooo.toml:6: owner.timezon: unknown key")


def test_end_before_start() -> None:
    """away.end before away.start is a clear error naming both."""
    (problem,) = problems(GOOD.replace("end = 2027-01-05", "end = 2026-12-05"))
    assert "away.end" in problem and "must be after away.start" in problem


def test_unknown_time_zone() -> None:
    """An unknown time zone names the key, the line and what is expected."""
    (problem,) = problems(GOOD.replace("Europe/Berlin", "Mars/Olympus"))
    assert problem.startswith("/etc/ooo.toml:5: owner.timezone: unknown time zone 'Mars/Olympus'")


def test_plain_to_a_remote_host_is_refused() -> None:
    """security = "plain" is only allowed to a loopback host."""
    (problem,) = problems(
        GOOD.replace('host = "127.0.0.1"\nport = 1143', 'host = "imap.example.com"\nport = 1143')
    )
    assert 'mailbox.security = "plain"' in problem and "imap.example.com" in problem


def test_bad_duration_and_address_are_both_reported() -> None:
    """Every problem is listed at once, each with the value given."""
    text = GOOD.replace(
        "end = 2027-01-05T09:00:00", 'end = 2027-01-05T09:00:00\nreply_interval = "soon"'
    )
    text = text.replace('["Bob@Example.com"]', '["bob"]')
    found = problems(text)
    assert any("owner.addresses[0]: expected an email address" in p for p in found)
    assert any("away.reply_interval" in p and "'soon'" in p for p in found)


def test_missing_required_key() -> None:
    """A missing required key is named."""
    (problem,) = problems(GOOD.replace('username = "bob"\n', ""))
    assert "mailbox.username: missing" in problem


def test_toml_syntax_error_has_the_line() -> None:
    """Broken TOML is reported with the parser's line and column."""
    with pytest.raises(ConfigError) as err:
        loads("[owner\nname = 1\n", Path("x.toml"))
    assert "x.toml is not valid TOML" in err.value.message
    assert "line 1" in err.value.problems[0]


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    """A missing config file names the path and how to make one."""
    with pytest.raises(ConfigError) as err:
        load(tmp_path / "nope.toml")
    assert "no config file at" in err.value.message
    # A pip user has no config.example.toml to copy: the advice names the command that writes one.
    assert err.value.advice and "ooo config init" in err.value.advice


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7d", 7 * 86400), ("36h", 36 * 3600), ("1w 2d", 9 * 86400), ("90m", 5400), (30, 30)],
)
def test_durations(text: str | int, seconds: int) -> None:
    """Durations read as people write them."""
    assert parse_duration(text) == timedelta(seconds=seconds)
