"""Finding the accounts: the main config file, accounts/*.toml next to it, further -c files;
their names and their state dirs (ooo.config.accounts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ooo.config.accounts import ACCOUNTS_DIR, DEFAULT, find, lenient_state_dir
from ooo.errors import ConfigError
from tests.support.configs import GOOD


def write(path: Path, text: str = GOOD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def main(tmp_path: Path) -> Path:
    """The main config file, its state in tmp_path/state."""
    return write(tmp_path / "conf" / "config.toml", GOOD + f'\n[state]\ndir = "{tmp_path}/state"\n')


def test_one_file_is_one_account_named_default_with_its_state_where_it_always_was(
    main: Path, tmp_path: Path
) -> None:
    """Without an accounts/ folder: one account, "default", state in its [state] dir."""
    accounts = find([str(main)])
    assert accounts.names == [DEFAULT]
    assert not accounts.several
    (account,) = accounts.files
    assert account.main and account.path == main
    assert accounts.load(account).state.dir == tmp_path / "state"
    assert accounts.state_root == tmp_path / "state"


def test_without_a_state_dir_the_main_account_keeps_the_platform_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The main file without [state] dir: its config is exactly what it was (no dir filled
    in), and the others' state goes under the platform state dir."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    main = write(tmp_path / "conf" / "config.toml")
    write(tmp_path / "conf" / ACCOUNTS_DIR / "work.toml")
    accounts = find([str(main)])
    default, work = accounts.files
    assert accounts.load(default).state.dir is None
    assert accounts.state_root == tmp_path / "xdg" / "ooo"
    assert accounts.load(work).state.dir == tmp_path / "xdg" / "ooo" / ACCOUNTS_DIR / "work"


def test_the_accounts_folder_adds_one_account_per_file_named_by_its_stem(
    main: Path, tmp_path: Path
) -> None:
    """accounts/*.toml, sorted, each named by its stem; editor droppings (dotfiles, other
    suffixes) are not accounts; each keeps its state under <main state>/accounts/<name>."""
    folder = main.parent / ACCOUNTS_DIR
    write(folder / "work.toml")
    write(folder / "personal.toml")
    write(folder / ".#work.toml")
    write(folder / "work.toml~")
    accounts = find([str(main)])
    assert accounts.names == [DEFAULT, "personal", "work"]
    assert accounts.several
    work = accounts.pick("work")[0]
    assert not work.main
    assert accounts.load(work).state.dir == tmp_path / "state" / ACCOUNTS_DIR / "work"
    assert accounts.state_dir(work) == tmp_path / "state" / ACCOUNTS_DIR / "work"


def test_an_account_with_its_own_state_dir_keeps_it(main: Path, tmp_path: Path) -> None:
    """[state] dir in an account's file wins over the default under the main state dir."""
    own = tmp_path / "elsewhere"
    write(main.parent / ACCOUNTS_DIR / "work.toml", GOOD + f'\n[state]\ndir = "{own}"\n')
    work = find([str(main)]).pick("work")[0]
    assert find([str(main)]).load(work).state.dir == own


def test_two_accounts_on_one_state_dir_are_refused_naming_both(main: Path, tmp_path: Path) -> None:
    """An account whose [state] dir is another's would answer the same inquiries twice: the
    later one is refused, naming the earlier and its file."""
    write(main.parent / ACCOUNTS_DIR / "work.toml", GOOD + f'\n[state]\ndir = "{tmp_path}/state"\n')
    accounts = find([str(main)])
    with pytest.raises(ConfigError, match="where account 'default'") as caught:
        accounts.load(accounts.pick("work")[0])
    assert str(main) in caught.value.message
    accounts.load(accounts.pick(DEFAULT)[0])  # the first to claim it keeps it


def test_further_c_options_add_accounts(main: Path, tmp_path: Path) -> None:
    """-c MAIN -c other.toml: the second file is an account named by its stem; the same file
    twice is one account."""
    other = write(tmp_path / "x" / "club.toml")
    accounts = find([str(main), str(other), str(other)])
    assert accounts.names == [DEFAULT, "club"]


def test_bad_or_clashing_names_are_refused_naming_the_files(main: Path, tmp_path: Path) -> None:
    """A file name that cannot be an account name ("default", spaces) or a name given twice is
    a ConfigError naming the file(s)."""
    bad = write(main.parent / ACCOUNTS_DIR / "my work.toml")
    with pytest.raises(ConfigError, match="cannot be an account name") as caught:
        find([str(main)])
    assert str(bad) in caught.value.message
    bad.unlink()
    write(main.parent / ACCOUNTS_DIR / "default.toml")
    with pytest.raises(ConfigError, match="'default' cannot be an account name"):
        find([str(main)])
    (main.parent / ACCOUNTS_DIR / "default.toml").unlink()
    write(main.parent / ACCOUNTS_DIR / "work.toml")
    other = write(tmp_path / "y" / "work.toml")
    with pytest.raises(ConfigError, match="two accounts are named 'work'"):
        find([str(main), str(other)])


def test_pick_names_the_accounts_there_are(main: Path) -> None:
    """--account with an unknown name: the error lists the accounts."""
    write(main.parent / ACCOUNTS_DIR / "work.toml")
    with pytest.raises(ConfigError, match="no account named 'wrok'") as caught:
        find([str(main)]).pick("wrok")
    assert caught.value.advice == "the accounts are: default, work"


def test_every_account_in_the_folder_and_no_main_file(tmp_path: Path) -> None:
    """An owner may keep every account in accounts/: a missing main file is then no account;
    with no folder either, it stays (loading it says there is no config file)."""
    main = tmp_path / "conf" / "config.toml"
    assert find([str(main)]).names == [DEFAULT]
    write(main.parent / ACCOUNTS_DIR / "work.toml")
    assert find([str(main)]).names == ["work"]


def test_the_state_dir_of_a_broken_file_is_still_found(tmp_path: Path) -> None:
    """[state] dir is read leniently: from a file that does not validate, or not even parse."""
    assert lenient_state_dir(write(tmp_path / "a.toml", '[state]\ndir = "/s/a"\n[owner]\n')) == (
        Path("/s/a")
    )
    broken = write(tmp_path / "b.toml", '[owner\nname = \n[state]\ndir = "/s/b"\n')
    assert lenient_state_dir(broken) == Path("/s/b")
    assert lenient_state_dir(write(tmp_path / "c.toml", "[owner]\n")) is None
    assert lenient_state_dir(tmp_path / "missing.toml") is None
