"""`ooo config show|init|edit` as a user runs them; `edit` is driven by a fake $EDITOR."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

from ooo.config import load, loads
from tests.support import ROOT as SUPPORT_ROOT
from tests.unit.config.test_config import GOOD

ROOT = SUPPORT_ROOT

EDITOR = textwrap.dedent(
    """\
    # A scripted editor: step N of plan.json says what to do with the file, and what the
    # file looked like when it was opened is kept as seen-N.toml.
    import json, pathlib, sys
    here = pathlib.Path(__file__).parent
    counter = here / "count"
    n = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(n + 1))
    target = pathlib.Path(sys.argv[1])
    text = target.read_text()
    (here / f"seen-{n}.toml").write_text(text)
    step = json.loads((here / "plan.json").read_text())[n]
    if step[0] == "exit":
        sys.exit(step[1])
    if step[0] == "replace":
        assert step[1] in text, step
        text = text.replace(step[1], step[2])
    target.write_text(text)
    """
)


def ooo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ooo", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def make_config(tmp_path: Path) -> Path:
    path = tmp_path / "conf" / "config.toml"
    path.parent.mkdir()
    path.write_text(GOOD + f'\n[state]\ndir = "{tmp_path / "state"}"\n')
    return path


def edit(tmp_path: Path, config: Path, *plan: list[object]) -> subprocess.CompletedProcess[str]:
    tools = tmp_path / "editor"
    tools.mkdir(exist_ok=True)
    (tools / "editor.py").write_text(EDITOR)
    (tools / "plan.json").write_text(json.dumps(plan))
    editor = f"{sys.executable} {tools / 'editor.py'}"
    return ooo("config", "edit", "-c", str(config), env={"EDITOR": editor, "VISUAL": ""})


def seen(tmp_path: Path, n: int) -> str:
    return (tmp_path / "editor" / f"seen-{n}.toml").read_text()


def test_config_show_prints_the_effective_config_with_secrets_redacted(tmp_path: Path) -> None:
    """Defaults are filled in, durations read back as the config writes them, the password
    command is shown as <set>, and the output is itself a valid config."""
    config = make_config(tmp_path)
    done = ooo("config", "show", "-c", str(config))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "printf secret" not in out
    assert 'password_command = "<set>"' in out
    assert 'reply_interval = "7d"' in out
    assert 'idle_refresh = "25m"' in out
    assert "start = 2026-12-20T00:00:00+01:00" in out
    data = tomllib.loads(out)
    assert data["mailbox"]["host"] == "127.0.0.1"
    assert loads(out, tmp_path / "shown.toml").away == load(config).away


def test_config_init_from_options_writes_a_valid_commented_starter(tmp_path: Path) -> None:
    """With every answer as an option, init writes a config that loads, keeps the example's
    comments, leaves the example network/delegate entries commented out, and never
    overwrites an existing file without --force."""
    path = tmp_path / "new" / "config.toml"
    args = [
        "config", "init", "-c", str(path),
        "--name", "Ana Away", "--address", "ana@corp.example", "--address", "a@corp.example",
        "--timezone", "Europe/Lisbon", "--start", "2027-07-01", "--end", "2027-07-20T09:00",
        "--imap-host", "imap.corp.example", "--smtp-host", "smtp.corp.example",
        "--username", "ana",
    ]  # fmt: skip
    done = ooo(*args)
    assert done.returncode == 0, done.stderr
    cfg = load(path)
    assert cfg.owner.name == "Ana Away"
    assert cfg.owner.addresses == ["ana@corp.example", "a@corp.example"]
    assert cfg.away.start.isoformat() == "2027-07-01T00:00:00+01:00"
    assert cfg.away.end.isoformat() == "2027-07-20T09:00:00+01:00"
    assert (cfg.mailbox.host, cfg.mailbox.username) == ("imap.corp.example", "ana")
    assert (cfg.smtp.host, cfg.smtp.username) == ("smtp.corp.example", "ana")
    assert cfg.network == [] and cfg.delegate is None and cfg.route == []
    text = path.read_text()
    assert "# [[network]]" in text and "# [delegate]" in text
    assert "# Every address that counts as" in text

    again = ooo(*args)
    assert again.returncode == 2
    assert "already exists" in again.stderr
    assert path.read_text() == text
    assert ooo(*args, "--force").returncode == 0


def test_config_init_without_a_terminal_names_the_missing_answers(tmp_path: Path) -> None:
    """Not interactive and answers missing: an error naming the options, nothing written."""
    path = tmp_path / "config.toml"
    done = ooo("config", "init", "-c", str(path), "--name", "Ana")
    assert done.returncode == 2
    assert "--address," in done.stderr and "--imap-host" in done.stderr
    assert "--name" not in done.stderr.split("needs", 1)[1].split("\n")[0]
    assert not path.exists()


def test_config_init_reports_a_bad_answer_like_a_bad_config(tmp_path: Path) -> None:
    """An end before the start is refused with the config's own message; nothing written."""
    path = tmp_path / "config.toml"
    done = ooo(
        "config", "init", "-c", str(path), "--name", "Ana", "--address", "ana@corp.example",
        "--timezone", "UTC", "--start", "2027-07-20", "--end", "2027-07-01",
        "--imap-host", "imap.corp.example", "--smtp-host", "smtp.corp.example",
        "--username", "ana",
    )  # fmt: skip
    assert done.returncode == 2
    assert "away.end" in done.stderr or "must be after away.start" in done.stderr
    assert not path.exists()


def test_config_edit_saves_a_valid_edit_atomically(tmp_path: Path) -> None:
    """A valid edit replaces the file (a new inode: a reader never sees half a file), keeps
    its mode, and leaves no temporary file behind."""
    config = make_config(tmp_path)
    config.chmod(0o640)
    inode = config.stat().st_ino
    done = edit(tmp_path, config, ["replace", 'name = "Bob Example"', 'name = "Bob Away"'])
    assert done.returncode == 0, done.stderr
    assert "saved" in done.stdout
    assert load(config).owner.name == "Bob Away"
    assert config.stat().st_ino != inode
    assert oct(config.stat().st_mode & 0o777) == oct(0o640)
    assert sorted(p.name for p in config.parent.iterdir()) == ["config.toml"]


def test_config_edit_reopens_an_invalid_edit_with_the_error_on_top(tmp_path: Path) -> None:
    """An invalid save is not written: the editor reopens with the problems as comment lines
    whose line numbers match the reopened text; the fixed version is saved without them."""
    config = make_config(tmp_path)
    original = config.read_text()
    done = edit(
        tmp_path,
        config,
        ["replace", "Europe/Berlin", "Europe/Berln"],
        ["replace", "Europe/Berln", "Europe/Paris"],
    )
    assert done.returncode == 0, done.stderr
    reopened = seen(tmp_path, 1)
    header = [line for line in reopened.splitlines() if line.startswith("#! ")]
    problem = next(line for line in header if "owner.timezone" in line)
    line_no = int(problem.split(f"{config}:", 1)[1].split(":", 1)[0])
    assert 'timezone = "Europe/Berln"' in reopened.splitlines()[line_no - 1]
    saved = config.read_text()
    assert load(config).owner.timezone == "Europe/Paris"
    assert "#! " not in saved
    assert saved == original.replace("Europe/Berlin", "Europe/Paris")


def test_config_edit_gives_up_on_an_unchanged_invalid_save(tmp_path: Path) -> None:
    """Saving the reopened invalid file unchanged gives up: exit 2 with the problem named,
    the real file untouched."""
    config = make_config(tmp_path)
    original = config.read_text()
    done = edit(tmp_path, config, ["replace", "Europe/Berlin", "Europe/Berln"], ["keep"])
    assert done.returncode == 2
    assert "gave up" in done.stderr and "owner.timezone" in done.stderr
    assert config.read_text() == original
    assert sorted(p.name for p in config.parent.iterdir()) == ["config.toml"]


def test_config_edit_gives_up_when_the_editor_fails(tmp_path: Path) -> None:
    """An editor that exits non-zero (`:cq` in vim) changes nothing, even after edits."""
    config = make_config(tmp_path)
    original = config.read_text()
    done = edit(tmp_path, config, ["exit", 1])
    assert done.returncode == 2
    assert "exited with status 1" in done.stderr
    assert config.read_text() == original


def test_config_edit_without_changes_says_so(tmp_path: Path) -> None:
    """Quitting without a change leaves the file (and its inode) alone."""
    config = make_config(tmp_path)
    inode = config.stat().st_ino
    done = edit(tmp_path, config, ["keep"])
    assert done.returncode == 0
    assert "no changes" in done.stdout
    assert config.stat().st_ino == inode


def test_secret_looking_keys_are_redacted_wherever_they_are() -> None:
    """Password and token commands (and anything named like a secret) are redacted in nested
    tables and lists; other values and unset secrets are shown as they are."""
    from ooo.config.edit import REDACTED, _redact

    data = {
        "mailbox": {"password_command": "pass show x", "host": "h", "token_command": None},
        "route": [{"delegate": {"client_secret": "s3"}}],
    }
    assert _redact(data) == {
        "mailbox": {"password_command": REDACTED, "host": "h", "token_command": None},
        "route": [{"delegate": {"client_secret": REDACTED}}],
    }


def test_config_init_asks_for_what_the_options_left_out(tmp_path: Path) -> None:
    """In a terminal, init asks only the missing questions; an empty answer takes the offered
    default (the time zone)."""
    from ooo.config.edit import init

    answers = {
        "Your email address(es), comma-separated": "ana@corp.example",
        "Away from (YYYY-MM-DD or YYYY-MM-DDTHH:MM, your time)": "2027-07-01",
        "Back on (YYYY-MM-DD or YYYY-MM-DDTHH:MM, your time)": "2027-07-20",
        "IMAP server": "imap.corp.example",
        "Login name on the mail server": "ana",
        "SMTP server": "smtp.corp.example",
        "Your time zone": "",
    }
    asked: list[tuple[str, str | None]] = []

    def ask(prompt: str, default: str | None) -> str:
        asked.append((prompt, default))
        return answers[prompt]

    path = tmp_path / "config.toml"
    cfg = init(path, {"name": "Ana Away"}, ask=ask)
    assert [p for p, _ in asked] == [
        "Your email address(es), comma-separated",
        "Your time zone",
        *list(answers)[1:6],
    ]
    assert asked[1][1]  # a default zone is offered
    assert cfg.owner.name == "Ana Away" and cfg.mailbox.host == "imap.corp.example"
    assert load(path).owner.timezone == asked[1][1]


def test_config_show_of_the_example_reads_back_as_the_same_config(tmp_path: Path) -> None:
    """Every table of config.example.toml (network entries, routes with inline delegates,
    audiences) survives show: reading the output gives the same effective config."""
    done = ooo("config", "show", "-c", str(ROOT / "config.example.toml"))
    assert done.returncode == 0, done.stderr
    shown = loads(done.stdout, tmp_path / "shown.toml")
    assert shown.model_dump(exclude={"path"}) == load(ROOT / "config.example.toml").model_dump(
        exclude={"path"}
    )
