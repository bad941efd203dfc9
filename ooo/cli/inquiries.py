"""``ooo resolve`` and ``ooo reopen``: the owner's own decision about an inquiry, recorded as
a signal like any other (the report derives the status from the signals)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ooo.cli.common import (
    SubParsers,
    add_account_option,
    add_command,
    choices_from,
    load_config,
)
from ooo.errors import UserError

if TYPE_CHECKING:
    from ooo.store import MessageRecord, Store


def _resolvers() -> Sequence[str]:
    from ooo.report import RESOLVERS

    return RESOLVERS


def register(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    res = add_command(sub, common, "resolve", cmd_resolve, help="mark an inquiry resolved by hand")
    res.add_argument("ref", help="the inquiry's reference, e.g. OOO-7K3Q9M")
    by = res.add_argument("--by", required=True, help="who resolved it")
    choices_from(by, _resolvers)
    res.add_argument("--note", default="", help="why, in your words (shown in the report)")
    reo = add_command(sub, common, "reopen", cmd_reopen, help="mark an inquiry open again")
    reo.add_argument("ref", help="the inquiry's reference")
    reo.add_argument("--note", default="", help="why (shown in the report)")
    add_account_option(res, "look for the inquiry in")
    add_account_option(reo, "look for the inquiry in")


def cmd_resolve(args: argparse.Namespace) -> int:
    return _owner_signal(
        args,
        "resolved",
        args.by,
        "owner_resolved",
        f"marked resolved by hand (by {args.by})",
        f"resolved by {args.by}",
    )


def cmd_reopen(args: argparse.Namespace) -> int:
    return _owner_signal(
        args, "reopened", None, "owner_reopened", "reopened by hand", "is open again"
    )


def _inquiry_store(args: argparse.Namespace) -> tuple[Store, MessageRecord, str]:
    """The open store, the inquiry ``args.ref`` names and its reference."""
    from ooo.app import open_store, state_db

    cfg = load_config(args)
    path = state_db(cfg)
    if not path.exists():
        raise UserError(f"no state yet in {path.parent}: ooo has not run with this config")
    store = open_store(cfg)
    row = store.inquiry(args.ref.strip().upper())
    if row is None or row.ref is None:
        store.close()
        raise UserError(
            f"no inquiry {args.ref!r}",
            advice="references look like OOO-7K3Q9M; `ooo report` lists them",
        )
    return store, row, row.ref


def _owner_signal(
    args: argparse.Namespace, kind: str, by: str | None, rule: str, default: str, said: str
) -> int:
    """Record the owner's own decision about an inquiry as a signal, like any other."""
    store, row, ref = _inquiry_store(args)
    with store, store.transaction():
        store.add_signal(
            ref=ref,
            at=datetime.now(UTC),
            kind=kind,
            by=by,
            rule=rule,
            evidence=args.note or default,
        )
    print(f"{ref} ({row.sender}: {row.subject[:60]!r}) {said}")
    return 0
