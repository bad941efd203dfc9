"""``ooo report``: what happened while the owner was away, in any of the report's formats."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ooo.cli.common import (
    SubParsers,
    add_account_option,
    add_command,
    choices_from,
    find_accounts,
    for_each_account,
    load_config,
)
from ooo.errors import UserError

if TYPE_CHECKING:
    from ooo.config import Config
    from ooo.report import Format


def _formats() -> Sequence[str]:
    from ooo.report import FORMATS

    return FORMATS


def register(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    rep = add_command(sub, common, "report", cmd_report, help="what happened while you were away")
    choices_from(rep.add_argument("--format", default="text"), _formats)
    rep.add_argument("--output", metavar="FILE", help="write to FILE (atomically) instead")
    rep.add_argument(
        "--at",
        metavar="DATETIME",
        help="the report as of this moment (default: the end of the away window)",
    )
    rep.add_argument(
        "--lang",
        metavar="LANG",
        help="the report's language: en, de, fr, es or nl (default: [report] language, "
        "else the first of [reply] languages, else en)",
    )
    add_account_option(rep, "report on")


def cmd_report(args: argparse.Namespace) -> int:
    from ooo.app import build_owner_report, open_store, state_db
    from ooo.host.files import write_atomic
    from ooo.report import render

    lang = _language(args.lang) if getattr(args, "lang", None) else None
    if _several_accounts(args):
        return for_each_account(args, cmd_report) or 0
    cfg = load_config(args)
    if not state_db(cfg).exists():
        print("nothing to report: ooo has not run with this config")
        return 0
    at = None
    if args.at:
        try:
            at = datetime.fromisoformat(args.at)
        except ValueError as exc:
            raise UserError(
                f"--at {args.at!r}: expected a date or date-time like 2027-01-05T09:00"
            ) from exc
        if at.tzinfo is None:
            at = at.replace(tzinfo=cfg.owner.tz)
    output = _output_path(args.output, args.format) if args.output else None
    with open_store(cfg) as store:
        report = build_owner_report(cfg, store, at)
    text = render(
        report, args.format, template_dir=cfg.templates.dir, language=lang or _config_language(cfg)
    )
    if output:
        try:
            write_atomic(output, text)
        except OSError as exc:
            raise UserError(f"cannot write the report to {output}: {exc.strerror or exc}") from exc
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _several_accounts(args: argparse.Namespace) -> bool:
    """Several accounts and no --account: each one's report under its name, in text or
    Markdown; a file format (or --output) needs one account."""
    if getattr(args, "account", None) is not None or not find_accounts(args).several:
        return False
    if args.format not in ("text", "md") or args.output:
        names = ", ".join(find_accounts(args).names)
        raise UserError(
            f"there are several accounts ({names}): --format {args.format}"
            + (" --output" if args.output else "")
            + " makes one report",
            advice="pick one with --account NAME (run it once per account)",
        )
    return True


def _language(given: str) -> str:
    """--lang, checked before any work: one of the report's languages (``de-AT`` is ``de``)."""
    from ooo.locale import normalise

    try:
        return normalise(given)
    except ValueError as exc:
        raise UserError(f"--lang {given}: {exc}") from None


def _config_language(cfg: Config) -> str:
    from ooo.locale import configured

    return configured(cfg)


def _output_path(given: str, fmt: Format) -> Path:
    """--output FILE, checked before any work: a directory or a missing directory is a usage
    error that says what to write instead, not a traceback."""
    from ooo.report import SUFFIXES

    path = Path(given).expanduser()
    example = f"report{SUFFIXES[fmt]}"
    if path.is_dir():
        raise UserError(
            f"--output {given} is a directory",
            advice=f"name a file in it, e.g. --output {path / example}",
        )
    if not path.parent.is_dir():
        raise UserError(
            f"--output {given}: the directory {path.parent} does not exist",
            advice=f"create it first (mkdir -p {path.parent}) or choose another path",
        )
    return path
