"""Several mailboxes, one owner: which config files are accounts, their names, their state.

The main config file (``-c FILE``, else $OOO_CONFIG, else the platform default) is the account
``default``. Every ``*.toml`` in the ``accounts/`` folder next to it is one more account, named
by the file's stem (``accounts/work.toml`` is ``work``); a second, third ... ``-c FILE`` adds a
file the same way. Without an ``accounts/`` folder there is one account and nothing changes:
no name to give, the same state dir, the same output of every command.

Each account keeps its own state: the main one exactly where it always did (its ``[state]
dir``, else the platform state dir); another one in its own ``[state] dir`` when its file sets
one, else in ``<the main state dir>/accounts/<name>/``. Two accounts on one state dir would
answer the same inquiry twice: the second is refused with the name of the first.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ooo.config import Config, StateConfig, load, resolve_path
from ooo.errors import ConfigError

#: The main config file's account name.
DEFAULT = "default"
#: The folder next to the main config file that holds the other accounts' files, and the
#: folder under the main state dir that holds their state.
ACCOUNTS_DIR = "accounts"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class AccountFile:
    """One account: its name and its config file (which may be missing or invalid)."""

    name: str
    path: Path
    main: bool = False


@dataclass(frozen=True)
class Accounts:
    """Every account found, in order (the main one first), and where their state lives."""

    files: tuple[AccountFile, ...]
    state_root: Path
    """The main account's state dir; the others' default state dirs are under it."""
    configured_root: Path | None
    """The main file's ``[state] dir`` when it sets one (the log file goes there too)."""

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.files]

    @property
    def several(self) -> bool:
        return len(self.files) > 1

    def pick(self, name: str | None) -> list[AccountFile]:
        """All accounts (``name`` None), or the one named; ConfigError listing the names."""
        if name is None:
            return list(self.files)
        for f in self.files:
            if f.name == name:
                return [f]
        raise ConfigError(
            f"no account named {name!r}",
            advice=f"the accounts are: {', '.join(self.names)}",
        )

    def default_state_dir(self, account: AccountFile) -> Path:
        """Where ``account`` keeps its state when its file does not say ([state] dir)."""
        if account.main:
            return self.state_root
        return self.state_root / ACCOUNTS_DIR / account.name

    def load(self, account: AccountFile) -> Config:
        """The account's config, its state dir filled in; ConfigError saying what and where."""
        return self.prepare(account, load(account.path))

    def prepare(self, account: AccountFile, cfg: Config) -> Config:
        """``cfg`` (just read from ``account``'s file) with its state dir made explicit for a
        non-main account, and refused if another account already keeps its state there."""
        if account.main:
            return cfg
        if cfg.state.dir is None:
            cfg = cfg.model_copy(update={"state": StateConfig(dir=self.default_state_dir(account))})
        mine = _same(cfg.state.dir or self.state_root)
        earlier = self.files[: [f.name for f in self.files].index(account.name)]
        for other in earlier:  # the first to claim a state dir keeps it
            theirs = self.state_dir(other)
            if _same(theirs) == mine:
                raise ConfigError(
                    f"{account.path}: account {account.name!r} would keep its state in "
                    f"{cfg.state.dir}, where account {other.name!r} ({other.path}) keeps its own",
                    advice="give it a [state] dir of its own, or remove [state] dir from its file",
                )
        return cfg

    def state_dir(self, account: AccountFile) -> Path:
        """Where ``account`` keeps its state, read leniently (its file may be invalid)."""
        found = lenient_state_dir(account.path)
        return found if found is not None else self.default_state_dir(account)


def find(configs: Sequence[str | os.PathLike[str]] | None = None) -> Accounts:
    """The accounts: the main file (the first of ``configs``, else the default path), every
    other file given, and every ``*.toml`` in the ``accounts/`` folder next to the main one.
    A missing main file is not an account when that folder has some (the owner keeps every
    account there); otherwise it stays, so loading it says "no config file at ...".
    Raises ConfigError for a file name that cannot be an account name, or a name taken twice."""
    given = [Path(c) for c in configs or []]
    main = resolve_path(given[0] if given else None)
    folder = main.parent / ACCOUNTS_DIR
    in_folder = (
        sorted(p for p in folder.glob("*.toml") if not p.name.startswith("."))
        if folder.is_dir()
        else []
    )
    files: list[AccountFile] = []
    if main.exists() or not (in_folder or given[1:]):
        files.append(AccountFile(DEFAULT, main, main=True))
    seen = {_same(main)}
    for path in [*given[1:], *in_folder]:
        key = _same(path)
        if key in seen:
            continue
        seen.add(key)
        name = path.stem if path.suffix == ".toml" else path.name
        if not _NAME.fullmatch(name) or name == DEFAULT:
            raise ConfigError(
                f"{path}: {name!r} cannot be an account name (the file's name without .toml)",
                advice="rename the file to letters, digits, '.', '_' or '-' (not 'default'), "
                "e.g. work.toml",
            )
        clash = next((f for f in files if f.name == name), None)
        if clash is not None:
            raise ConfigError(
                f"two accounts are named {name!r}: {clash.path} and {path}",
                advice="rename one of the files",
            )
        files.append(AccountFile(name, path))
    configured = lenient_state_dir(main)
    root = configured if configured is not None else platform_state_dir()
    return Accounts(tuple(files), root, configured)


def platform_state_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_state_dir("ooo"))


def lenient_state_dir(path: Path) -> Path | None:
    """``[state] dir`` from a config file that may not validate or even parse (None: it sets
    none, or cannot be read), so that a broken file's state can still be found."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    found: object = None
    try:
        state = tomllib.loads(text).get("state", {})
        found = state.get("dir") if isinstance(state, dict) else None
    except tomllib.TOMLDecodeError:
        m = re.search(r'^\s*\[state\][^\[]*?^\s*dir\s*=\s*"([^"]*)"', text, re.M | re.S)
        found = m.group(1) if m else None
    if isinstance(found, str) and found:
        return Path(found).expanduser()
    return None


def _same(path: Path) -> Path:
    """One spelling per file or folder (``~``, relative parts and symlinks resolved)."""
    return path.expanduser().resolve()
