"""`ooo config show|init|edit` as a user runs them; `edit` is driven by a fake $EDITOR."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

from ooo.config import load, loads
from tests.support import ROOT as SUPPORT_ROOT
from tests.support.cli import ooo
from tests.support.configs import make_config

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


# -- ooo config set --------------------------------------------------------------------------


def example_copy(tmp_path: Path) -> Path:
    """config.example.toml (comments, blank lines, [[network]] entries, an inline delegate) as
    a private config file of its own."""
    path = tmp_path / "conf" / "config.toml"
    path.parent.mkdir()
    path.write_text((ROOT / "config.example.toml").read_text())
    path.chmod(0o600)
    return path


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """The lines removed from ``before`` and the lines added in ``after``."""
    import difflib

    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    return [d[2:] for d in diff if d.startswith("- ")], [d[2:] for d in diff if d.startswith("+ ")]


def test_config_set_changes_one_line_and_keeps_every_comment(tmp_path: Path) -> None:
    """`ooo config set away.end 2027-01-12` rewrites that one line: every comment, blank line
    and the rest of the layout stay byte for byte; the file is replaced (new inode) with its
    mode kept, and the command says a running daemon picks the change up."""
    config = example_copy(tmp_path)
    config.chmod(0o640)
    before, inode = config.read_text(), config.stat().st_ino
    done = ooo("config", "set", "away.end", "2027-01-12", "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert f"set away.end = 2027-01-12 in {config}" in done.stdout
    assert "picks the change up by itself" in done.stdout
    after = config.read_text()
    assert after == before.replace("end = 2027-01-05T09:00:00\n", "end = 2027-01-12\n", 1)
    assert load(config).away.end.isoformat() == "2027-01-12T00:00:00+01:00"
    assert config.stat().st_ino != inode
    assert oct(config.stat().st_mode & 0o777) == oct(0o640)
    assert sorted(p.name for p in config.parent.iterdir()) == ["config.toml"]


def test_config_set_reads_the_value_as_toml_else_as_text(tmp_path: Path) -> None:
    """An array, a boolean and a number are TOML values; words that are not TOML are a string;
    a trailing comment on the line survives."""
    from ooo.config.edit import set_value

    config = make_config(tmp_path)
    config.write_text(config.read_text().replace("port = 1143", "port = 1143  # a test port"))
    set_value(config, "owner.addresses", '["a@corp.example", "b@corp.example"]')
    set_value(config, "mailbox.port", "1993")
    set_value(config, "owner.timezone", "Europe/Lisbon")
    set_value(config, "away.reply_interval", "3d")
    changed, said = set_value(config, "reply.share_subject", "true")
    assert changed and said == "reply.share_subject = true"
    cfg = load(config)
    assert cfg.owner.addresses == ["a@corp.example", "b@corp.example"]
    assert cfg.mailbox.port == 1993 and cfg.owner.timezone == "Europe/Lisbon"
    assert cfg.away.reply_interval.days == 3 and cfg.reply.share_subject is True
    assert "port = 1993  # a test port\n" in config.read_text()


def test_config_set_refuses_an_invalid_value_and_leaves_the_file_alone(tmp_path: Path) -> None:
    """A value the config rejects exits 2 with the loader's own message (file, line, key) and
    a hint about how VALUE is read; the file keeps its bytes and its inode."""
    config = example_copy(tmp_path)
    before, inode = config.read_text(), config.stat().st_ino
    done = ooo("config", "set", "away.end", "next week", "-c", str(config))
    assert done.returncode == 2
    assert "not saved" in done.stderr and "unchanged" in done.stderr
    assert f"{config}:22: away.end:" in done.stderr
    assert "VALUE is read as TOML" in done.stderr
    assert "Traceback" not in done.stderr
    assert config.read_text() == before and config.stat().st_ino == inode
    assert sorted(p.name for p in config.parent.iterdir()) == ["config.toml"]


def test_config_set_names_a_key_the_config_does_not_have(tmp_path: Path) -> None:
    """A typo in the key is an error naming it, with the nearest real key; nothing written."""
    config = example_copy(tmp_path)
    before = config.read_text()
    done = ooo("config", "set", "reply.external.cc_delegat", "true", "-c", str(config))
    assert done.returncode == 2
    assert "error: reply.external.cc_delegat is not a config key" in done.stderr
    assert "did you mean reply.external.cc_delegate?" in done.stderr
    assert config.read_text() == before


def test_config_set_creates_a_table_that_does_not_exist_yet(tmp_path: Path) -> None:
    """Setting a key of a missing table adds the table ([reply.external], with no empty
    [reply] above it) at the end, and a new top-level table given as an inline table is
    written as a [table]."""
    from ooo.config.edit import set_value

    config = make_config(tmp_path)
    set_value(config, "delegate", '{ name = "Carol Jones", email = "carol@example.com" }')
    set_value(config, "reply.external.cc_delegate", "true")
    text = config.read_text()
    assert text.endswith(
        '\n[delegate]\nname = "Carol Jones"\nemail = "carol@example.com"\n\n'
        "[reply.external]\ncc_delegate = true\n"
    )
    assert "[reply]" not in text
    cfg = load(config)
    assert cfg.reply.external.cc_delegate and cfg.delegate and cfg.delegate.name == "Carol Jones"


def test_config_set_puts_a_new_table_before_the_next_tables_comments(tmp_path: Path) -> None:
    """In the example, the comment block above [[route]] belongs, for TOML, to [reply.vip]:
    a new [reply.internal] goes after [reply.vip]'s keys, and that comment block stays right
    above [[route]]."""
    from ooo.config.edit import set_value

    config = example_copy(tmp_path)
    before = config.read_text()
    set_value(config, "reply.internal.cc_delegate", "true")
    after = config.read_text()
    removed, added = changed_lines(before, after)
    assert removed == [] and added == ["[reply.internal]", "cc_delegate = true", ""]
    assert (
        "[reply.vip]\ncc_delegate = true\n\n[reply.internal]\ncc_delegate = true\n\n# Routes"
        in after
    )


def test_config_set_addresses_an_array_of_tables_entry(tmp_path: Path) -> None:
    """`network[0].label` sets the first [[network]] entry's label (after its commented-out
    default); `network[1].audience` goes into the second entry, above the comment that
    introduces [delegate]; the entries' other keys are untouched."""
    from ooo.config.edit import set_value

    config = example_copy(tmp_path)
    before = config.read_text()
    done = ooo("config", "set", "network[0].label", "Ask me on Mastodon", "-c", str(config))
    assert done.returncode == 0, done.stderr
    set_value(config, "network[1].audience", "all")
    set_value(config, "route[0].delegate.name", "Dan Finance")
    after = config.read_text()
    assert changed_lines(before, after) == (
        ['delegate = { name = "Dave Finance", email = "dave@example.com" }'],
        [
            'label = "Ask me on Mastodon"',
            'audience = "all"',
            'delegate = { name = "Dan Finance", email = "dave@example.com" }',
        ],
    )
    assert 'slack/teams/matrix/discourse\naudience = "all"\n\n# An internal Matrix room' in after
    cfg = load(config)
    assert cfg.network[0].label == "Ask me on Mastodon" and cfg.network[1].audience == "all"
    assert cfg.route[0].delegate is not None and cfg.route[0].delegate.name == "Dan Finance"


def test_config_set_refuses_what_it_cannot_address(tmp_path: Path) -> None:
    """An entry the file does not have, a list without an index, and a whole table are
    errors that say what to write instead; the file is untouched."""
    from ooo.config.edit import set_value
    from ooo.errors import UserError

    config = example_copy(tmp_path)
    before = config.read_text()
    cases = {
        ("network[2].label", "x"): "network[2] does not exist: the file has 2 network entries",
        ("network.label", "x"): "network is a list: name one entry, e.g. network[0].label",
        ("delegate", '{ name = "X", email = "x@example.com" }'): "delegate is a table",
        ("network[0]", '{ kind = "custom" }'): "network[0] is a table",
        ("owner.name.first", "x"): "owner.name is a value, not a table",
        ("away..end", "x"): "'away..end' is not a config key",
    }
    for (key, value), message in cases.items():
        try:
            set_value(config, key, value)
        except UserError as exc:
            assert message in exc.message, (key, exc.message)
        else:
            raise AssertionError(f"{key} was accepted")
    assert config.read_text() == before


def test_config_set_value_parsing() -> None:
    """One TOML value parses to its type; text that is not exactly one value does not."""
    from ooo.config.edit import parse_value

    def parsed(text: str) -> object:
        item = parse_value(text)
        return None if item is None else item.unwrap()

    assert parsed("true") is True and parsed("42") == 42
    assert parsed('["a@x", "b@y"]') == ["a@x", "b@y"]
    assert str(parsed("2027-01-12")) == "2027-01-12"
    assert parsed('{ name = "C" }') == {"name": "C"}
    for text in ("Europe/Berlin", "7d", "next week", "1\n[owner]", ""):
        assert parsed(text) is None, text
    # TOML 1.1's minutes-only time is written with seconds, which every reader takes.
    item = parse_value("2027-01-05T09:00")
    assert item is not None and item.as_string() == "2027-01-05T09:00:00"


def test_config_init_changes_only_the_answers_in_the_example(tmp_path: Path) -> None:
    """The starter config is the example, line for line: a header, the answered keys
    rewritten in place, and every line after [smtp] commented out; nothing else moves."""
    from ooo.config.edit import starter_text

    example = (ROOT / "config.example.toml").read_text()
    answers = {
        "name": "Ana Away",
        "addresses": "ana@corp.example, a@corp.example",
        "timezone": "Europe/Lisbon",
        "start": "2027-07-01",
        "end": "2027-07-20T09:00",
        "imap_host": "imap.corp.example",
        "username": "ana",
        "smtp_host": "smtp.corp.example",
    }
    text = starter_text(example, answers)
    lines, original = text.splitlines(), example.splitlines()
    assert all(line.startswith("# ") for line in lines[:3])
    body = lines[3:]
    assert len(body) == len(original)
    smtp_end = original.index("[[network]]")
    changed = [(o, n) for o, n in zip(original[:smtp_end], body[:smtp_end], strict=True) if o != n]
    assert [n for _, n in changed] == [
        'name = "Ana Away"',
        'addresses = ["ana@corp.example", "a@corp.example"]',
        'timezone = "Europe/Lisbon"',
        "start = 2027-07-01",
        "end = 2027-07-20T09:00:00",
        'host = "imap.corp.example"',
        'username = "ana"',
        'host = "smtp.corp.example"',
        'username = "ana"',
    ]
    for o, n in zip(original[smtp_end:], body[smtp_end:], strict=True):
        assert n == (o if not o.strip() or o.startswith("#") else "# " + o)


def test_config_set_on_a_file_that_is_not_toml_says_where(tmp_path: Path) -> None:
    """A file that does not parse is reported like `ooo check` reports it, and left alone."""
    config = make_config(tmp_path)
    config.write_text("[owner\n")
    done = ooo("config", "set", "owner.name", "Bob", "-c", str(config))
    assert done.returncode == 2
    assert f"{config} is not valid TOML" in done.stderr and "line 1" in done.stderr
    assert config.read_text() == "[owner\n"
