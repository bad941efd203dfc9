"""``ooo config show|init|edit|set``: the config file as the owner handles it; the work is
done by :mod:`ooo.config.edit`."""

from __future__ import annotations

import argparse
import sys

from ooo.cli.common import SubParsers, add_command, load_config
from ooo.errors import UserError

PICKED_UP = "a running ooo picks the change up by itself (or send it SIGHUP)"
SET_DESCRIPTION = """\
Set one key of the config file, keeping every comment and the layout of the rest
of the file. The file is saved only when the result is a valid config.

examples:
  ooo config set away.end 2027-01-12
  ooo config set owner.addresses '["a@example.com", "b@example.com"]'
  ooo config set reply.external.cc_delegate true
  ooo config set network[0].label 'Ask me on Mastodon'
"""


def register(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    cfg = sub.add_parser("config", parents=[common], help="show, create or edit the config file")
    actions = cfg.add_subparsers(dest="config_action", metavar="ACTION", required=True)
    add_command(
        actions, common, "show", cmd_show, help="print the effective config, secrets redacted"
    )
    add_command(
        actions,
        common,
        "edit",
        cmd_edit,
        help="edit in $EDITOR; saved only when valid (like crontab -e)",
    )
    init = add_command(
        actions,
        common,
        "init",
        cmd_init,
        help="write a starter config (asks, or takes the options)",
    )
    init.add_argument("--name", help="your name, as replies are signed")
    init.add_argument("--address", action="append", default=[], help="your address (repeatable)")
    init.add_argument("--timezone", help="IANA time zone (default: this machine's)")
    init.add_argument("--start", help="away from: 2026-12-20 or 2026-12-20T09:00")
    init.add_argument("--end", help="back on: 2027-01-05 or 2027-01-05T09:00")
    init.add_argument("--imap-host", help="the IMAP server")
    init.add_argument("--smtp-host", help="the SMTP server")
    init.add_argument("--username", help="the login name on the mail server")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    put = add_command(
        actions,
        common,
        "set",
        cmd_set,
        help="set one key, keeping the file's comments; saved only when valid",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=SET_DESCRIPTION,
    )
    put.add_argument(
        "key", metavar="KEY", help="as in the file: away.end, reply.vip.cc_delegate, route[0].name"
    )
    put.add_argument(
        "value",
        metavar="VALUE",
        help='a TOML value (true, 42, 2027-01-12, ["a", "b"], "text"); anything else is text',
    )


def cmd_show(args: argparse.Namespace) -> int:
    from ooo.config import edit as configedit

    sys.stdout.write(configedit.show(load_config(args)))
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    from ooo.config import edit as configedit
    from ooo.config import resolve_path

    path = resolve_path(args.config)
    changed = configedit.edit(path)
    print(f"saved {path}" if changed else f"no changes; {path} is unchanged")
    if changed:
        print(PICKED_UP)
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    from ooo.config import edit as configedit
    from ooo.config import resolve_path

    path = resolve_path(args.config)
    changed, assignment = configedit.set_value(path, args.key, args.value)
    if not changed:
        print(f"{assignment} already; {path} is unchanged")
        return 0
    print(f"set {assignment} in {path}")
    print(PICKED_UP)
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from ooo.config import edit as configedit
    from ooo.config import resolve_path

    path = resolve_path(args.config)
    answers = {
        "name": args.name,
        "addresses": ", ".join(args.address) or None,
        "timezone": args.timezone,
        "start": args.start,
        "end": args.end,
        "imap_host": args.imap_host,
        "smtp_host": args.smtp_host,
        "username": args.username,
    }
    ask = _ask if sys.stdin.isatty() else None
    configedit.init(path, answers, force=args.force, ask=ask)
    print(f"wrote {path}")
    print("next: `ooo secret set mailbox` and `ooo secret set smtp`, then `ooo check`")
    return 0


def _ask(prompt: str, default: str | None) -> str:
    suffix = f" [{default}]" if default else ""
    try:
        return input(f"{prompt}{suffix}: ").strip()
    except EOFError as exc:
        raise UserError("config init: no answer given") from exc
