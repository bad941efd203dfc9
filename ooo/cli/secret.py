"""``ooo secret set|delete SECTION``: a password or token in the OS keyring, for the config
sections that sign in with one (mailbox, smtp) and for a watched ``[[network]]`` entry that
says ``keyring = true`` (``network.mastodon``, ``network.bluesky``, ``network.matrix``)."""

from __future__ import annotations

import argparse
import getpass
import sys
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING, Union, get_args, get_origin

from ooo.cli.common import (
    SubParsers,
    add_account_option,
    add_command,
    choices_from,
    load_config,
)
from ooo.errors import UserError

if TYPE_CHECKING:
    from ooo.config import Config


def sections() -> Sequence[str]:
    """The config sections that can sign in with a password: the fields of the config whose
    type is a password source (mailbox, smtp)."""
    from ooo.config import Config, PasswordSource

    def is_source(annotation: object) -> bool:
        if get_origin(annotation) in (Union, types.UnionType):
            return any(is_source(arg) for arg in get_args(annotation))
        return isinstance(annotation, type) and issubclass(annotation, PasswordSource)

    from ooo.core.network import WATCH_KINDS

    mail = [name for name, f in Config.model_fields.items() if is_source(f.annotation)]
    return mail + [f"network.{kind}" for kind in sorted(WATCH_KINDS)]


def register(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    sec = add_command(
        sub, common, "secret", cmd_secret, help="store or delete a password in the keyring"
    )
    sec.add_argument("action", choices=["set", "delete"])
    choices_from(sec.add_argument("section"), sections)
    add_account_option(sec, "store the secret for")


def cmd_secret(args: argparse.Namespace) -> int:
    from ooo.config import TOKEN_AUTH, MailboxConfig, SmtpConfig
    from ooo.host import secrets

    cfg = load_config(args)
    if args.section.startswith("network."):
        return _network_secret(args, cfg)
    section_cfg = getattr(cfg, args.section)
    if section_cfg is None:
        raise UserError(f"there is no [{args.section}] section in the config: nothing to store")
    assert isinstance(section_cfg, MailboxConfig | SmtpConfig)
    if section_cfg.auth in TOKEN_AUTH:  # signs in with a token, not a password
        raise UserError(
            f'[{args.section}] signs in with OAuth2 (auth = "{section_cfg.auth}"): nothing '
            f"uses a password there, so there is nothing to store; ooo gets a fresh access "
            f"token from token_command at every login",
            advice=f"check the token helper by running it: {section_cfg.token_command or '...'}"
            " (to sign in again, run its authorize step, e.g. `oama authorize ...`)",
        )
    return _store(args, secrets.entry_for(args.section, section_cfg), "password")


def _network_secret(args: argparse.Namespace, cfg: Config) -> int:
    """The secret of the watched entry of that kind which reads it from the keyring."""
    kind = args.section.removeprefix("network.")
    entries = [e for e in cfg.network if e.kind == kind and e.watch]
    if not entries:
        raise UserError(
            f"no watched {kind} entry in the config: nothing signs in there",
            advice=f"add watch = true to the [[network]] entry of kind {kind!r}",
        )
    keyed = [e for e in entries if e.keyring_entry]
    if not keyed:
        raise UserError(
            f"the watched {kind} entry takes its secret from "
            f"{'token_command' if entries[0].token_command else 'password_command'}, "
            "not the keyring: nothing to store",
            advice="set keyring = true in the entry instead of the command to use the keyring",
        )
    if len(keyed) > 1:
        names = ", ".join(repr(e.keyring_entry) for e in keyed)
        raise UserError(
            f"{len(keyed)} watched {kind} entries read the keyring ({names})",
            advice='give each a keyring entry name (keyring = "...") and store them with '
            "`keyring set ooo NAME`",
        )
    what = "token" if keyed[0].signs_in_with == "token" else "password"
    entry = keyed[0].keyring_entry
    assert entry is not None
    return _store(args, entry, what)


def _store(args: argparse.Namespace, entry: str, what: str) -> int:
    from ooo.host import secrets

    if args.action == "set":
        if sys.stdin.isatty():
            password = getpass.getpass(f"{what} for {args.section} ({entry}): ")
        else:
            password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise UserError(f"no {what} given; nothing stored")
        secrets.set_password(args.section, entry, password)
        print(f"stored the {args.section} {what} in the keyring (service 'ooo', entry {entry!r})")
    else:
        found = secrets.delete_password(args.section, entry)
        print(f"deleted {entry!r}" if found else f"no keyring entry {entry!r}")
    return 0
