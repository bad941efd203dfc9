"""The commands with several accounts, no server needed: each account under its name, one with
--account, a broken account never hiding the others, and one file exactly as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import ooo
from tests.support.configs import GOOD


@pytest.fixture
def two(tmp_path: Path) -> Path:
    """config.toml (state in tmp_path/state) and accounts/work.toml (default state dir)."""
    main = tmp_path / "conf" / "config.toml"
    (main.parent / "accounts").mkdir(parents=True)
    main.write_text(GOOD + f'\n[state]\ndir = "{tmp_path}/state"\n')
    (main.parent / "accounts" / "work.toml").write_text(GOOD)
    return main


def test_one_file_says_exactly_what_it_always_did(tmp_path: Path) -> None:
    """No accounts folder: no header, no account name, the same line as before."""
    main = tmp_path / "config.toml"
    main.write_text(GOOD + f'\n[state]\ndir = "{tmp_path}/state"\n')
    done = ooo("status", "-c", str(main))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"no state yet in {tmp_path}/state: ooo has not run with this config\n"


def test_status_shows_every_account_under_its_name(two: Path, tmp_path: Path) -> None:
    """Each account under "== account NAME (FILE) ==", the work account's state under the
    main state dir; --account shows one without a header."""
    done = ooo("status", "-c", str(two))
    assert done.returncode == 0, done.stderr
    work = two.parent / "accounts" / "work.toml"
    assert done.stdout == (
        f"== account default ({two}) ==\n"
        f"no state yet in {tmp_path}/state: ooo has not run with this config\n"
        "\n"
        f"== account work ({work}) ==\n"
        f"no state yet in {tmp_path}/state/accounts/work: ooo has not run with this config\n"
    )
    one = ooo("status", "-c", str(two), "--account", "work")
    assert one.stdout == (
        f"no state yet in {tmp_path}/state/accounts/work: ooo has not run with this config\n"
    )


def test_a_broken_account_is_reported_and_the_others_still_shown(two: Path) -> None:
    """An invalid accounts/work.toml: its error (file, line, key) on stderr, the default
    account still shown, exit 2."""
    work = two.parent / "accounts" / "work.toml"
    work.write_text(GOOD.replace("Europe/Berlin", "Europe/Berln"))
    done = ooo("status", "-c", str(two))
    assert done.returncode == 2
    assert "== account default" in done.stdout and "== account work" in done.stdout
    assert f"{work}:5: owner.timezone" in done.stderr


def test_unknown_account_and_a_file_report_of_several_say_what_to_do(two: Path) -> None:
    """--account with a name that is not there lists the names; a JSON report of several
    accounts asks for --account."""
    unknown = ooo("report", "-c", str(two), "--account", "play")
    assert unknown.returncode == 2
    assert "no account named 'play'" in unknown.stderr
    assert "the accounts are: default, work" in unknown.stderr
    json_report = ooo("report", "-c", str(two), "--format", "json")
    assert json_report.returncode == 2
    assert "several accounts (default, work)" in json_report.stderr
    assert "--account NAME" in json_report.stderr


def test_run_once_runs_each_account_and_names_the_broken_one(two: Path) -> None:
    """`ooo run --once` over several accounts: each in turn (here armed: the window is in the
    future), a broken one named with its error, the others still run; exit 2."""
    work = two.parent / "accounts" / "work.toml"
    work.write_text(GOOD.replace("[owner]", "[owner]\nnmae = 1"))
    done = ooo("run", "--once", "-c", str(two))
    assert done.returncode == 2
    assert "2 accounts (default, work)" in done.stderr
    assert "armed: the away window starts" in done.stderr
    assert f"account work: error: {work} has 1 problem(s)" in done.stderr


def test_a_bad_account_file_name_is_a_clear_error(two: Path) -> None:
    """A file in accounts/ whose name cannot be an account's: the error names it."""
    bad = two.parent / "accounts" / "my work.toml"
    bad.write_text(GOOD)
    done = ooo("status", "-c", str(two))
    assert done.returncode == 2
    assert f"{bad}: 'my work' cannot be an account name" in done.stderr


def test_one_service_runs_every_account(two: Path, tmp_path: Path) -> None:
    """`ooo service install --dry-run` with an accounts folder: one unit, started on the main
    file (the folder is read at every start), and it says which accounts it runs; several -c
    are refused with the folder to use instead."""
    done = ooo("service", "install", "--dry-run", "-c", str(two), env={"HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "one service for 2 accounts: default, work" in done.stdout
    assert f"run -c {two}" in done.stdout
    assert done.stdout.count("ExecStart=") <= 1
    extra = tmp_path / "club.toml"
    extra.write_text(GOOD)
    refused = ooo("service", "install", "--dry-run", "-c", str(two), "-c", str(extra))
    assert refused.returncode == 2
    assert f"into the accounts/ folder next to {two}" in refused.stderr


def test_every_account_in_the_folder_and_no_main_file(tmp_path: Path) -> None:
    """No main file, one file in accounts/: it is the one account, for every command (its
    state under the platform state dir's accounts/)."""
    main = tmp_path / "conf" / "config.toml"
    (main.parent / "accounts").mkdir(parents=True)
    (main.parent / "accounts" / "work.toml").write_text(GOOD)
    env = {"XDG_STATE_HOME": str(tmp_path / "xdg")}
    done = ooo("status", "-c", str(main), env=env)
    assert done.returncode == 0, done.stderr
    assert f"no state yet in {tmp_path}/xdg/ooo/accounts/work" in done.stdout
    shown = ooo("config", "show", "-c", str(main), env=env)
    assert shown.returncode == 0, shown.stderr
    assert "Bob Example" in shown.stdout


def test_preview_inquiries_and_secret_take_account_too(two: Path, tmp_path: Path) -> None:
    """preview, resolve, reopen and secret take --account like the others: the
    preview is the work account's reply (its owner's name), an inquiry is looked for in the
    work account's state, and an unknown name lists the accounts."""
    work = two.parent / "accounts" / "work.toml"
    work.write_text(GOOD.replace('name = "Bob Example"', 'name = "Wendy Work"'))
    mine = ooo("preview", "-c", str(two), "--from", "alice@example.org")
    theirs = ooo("preview", "-c", str(two), "--from", "alice@example.org", "--account", "work")
    assert mine.returncode == theirs.returncode == 0, mine.stderr + theirs.stderr
    assert "Bob Example" in mine.stdout and "Wendy Work" not in mine.stdout
    assert "Wendy Work" in theirs.stdout
    resolve = ooo("resolve", "OOO-7K3Q9M", "--by", "owner", "-c", str(two), "--account", "work")
    assert resolve.returncode != 0
    assert f"{tmp_path}/state/accounts/work" in resolve.stderr
    for argv in (
        ("reopen", "OOO-7K3Q9M"),
        ("secret", "delete", "mailbox"),
        ("preview", "--from", "alice@example.org"),
    ):
        unknown = ooo(*argv, "-c", str(two), "--account", "play")
        assert unknown.returncode == 2, argv
        assert "the accounts are: default, work" in unknown.stderr, argv
