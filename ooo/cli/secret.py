"""``ooo secret set|delete SECTION``: a password in the OS keyring, for the config sections
that sign in with one."""

from __future__ import annotations

import argparse
import getpass
import sys
import types
from collections.abc import Sequence
from typing import Union, get_args, get_origin

from ooo.cli.common import SubParsers, add_command, choices_from, load_config
from ooo.errors import UserError


def sections() -> Sequence[str]:
    """The config sections that can sign in with a password: the fields of the config whose
    type is a password source (mailbox, smtp)."""
    from ooo.config import Config, PasswordSource

    def is_source(annotation: object) -> bool:
        if get_origin(annotation) in (Union, types.UnionType):
            return any(is_source(arg) for arg in get_args(annotation))
        return isinstance(annotation, type) and issubclass(annotation, PasswordSource)

    return [name for name, f in Config.model_fields.items() if is_source(f.annotation)]


def register(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    sec = add_command(
        sub, common, "secret", cmd_secret, help="store or delete a password in the keyring"
    )
    sec.add_argument("action", choices=["set", "delete"])
    choices_from(sec.add_argument("section"), sections)


def cmd_secret(args: argparse.Namespace) -> int:
    from ooo.config import TOKEN_AUTH, MailboxConfig, SmtpConfig
    from ooo.host import secrets

    cfg = load_config(args)
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
    entry = secrets.entry_for(args.section, section_cfg)
    if args.action == "set":
        if sys.stdin.isatty():
            password = getpass.getpass(f"password for {args.section} ({entry}): ")
        else:
            password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise UserError("no password given; nothing stored")
        secrets.set_password(args.section, entry, password)
        print(f"stored the {args.section} password in the keyring (service 'ooo', entry {entry!r})")
    else:
        found = secrets.delete_password(args.section, entry)
        print(f"deleted {entry!r}" if found else f"no keyring entry {entry!r}")
    return 0
