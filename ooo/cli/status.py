"""``ooo status``: what the responder is doing and has done. The command gathers the facts
from the config, the store and the state lock; :mod:`ooo.core.status` says them (the network
watchers apart from the mailbox)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ooo.cli.common import (
    SubParsers,
    add_account_option,
    add_command,
    find_accounts,
    for_each_account,
    load_config,
)
from ooo.errors import ConfigError, UserError

if TYPE_CHECKING:
    from ooo.config import Config
    from ooo.core.status import StatusFacts
    from ooo.store import Store


def register(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    status = add_command(
        sub, common, "status", cmd_status, help="what the responder is doing and has done"
    )
    add_account_option(status, "show")


def cmd_status(args: argparse.Namespace) -> int:
    from ooo.app import open_store, state_db
    from ooo.core.status import status_lines

    several = for_each_account(args, cmd_status)  # each account under its name
    if several is not None:
        return several
    try:
        cfg = load_config(args)
    except ConfigError as exc:
        return _status_of_invalid_config(args, exc)
    if not state_db(cfg).exists():
        print(f"no state yet in {state_db(cfg).parent}: ooo has not run with this config")
        return 0
    with open_store(cfg) as store:
        facts = gather(cfg, store)
    for line in status_lines(facts):
        print(line)
    return 0


def gather(cfg: Config, store: Store) -> StatusFacts:
    """The facts ``ooo status`` shows, from the config, the store and the state lock."""
    from ooo import mailbox as mailboxes
    from ooo.app import state_dir
    from ooo.core.status import ReplyProblem, StatusFacts
    from ooo.host.lock import holder
    from ooo.mailbox.base import describe_cursor

    cursor, epoch = store.cursor(mailboxes.mailbox_id(cfg.mailbox))
    return StatusFacts(
        now=datetime.now(UTC),
        window_start=cfg.away.start,
        window_end=cfg.away.end,
        timezone=cfg.owner.tz,
        status=store.status(),
        pid=holder(state_dir(cfg)),
        cursor=describe_cursor(cursor),
        epoch=epoch,
        counts=store.counts_by_reason(),
        reply_states=store.counts_by_reply_state(),
        uncertain=[
            ReplyProblem(r.recipient, r.subject, r.last_error) for r in store.replies("uncertain")
        ],
        failed=[
            ReplyProblem(r.recipient, r.subject, r.last_error) for r in store.replies("failed")
        ],
        watched=list(dict.fromkeys(e.watch_name for e in cfg.network if e.watch)),
        watchers=store.watcher_states(),
        notices=store.notices(),
        answering=_answering(store),
    )


def _answering(store: Store) -> str | None:
    from ooo.handoff.base import HandoffState
    from ooo.handoff.supervisor import STATUS_KEY

    recorded = store.status().get(STATUS_KEY)
    state = HandoffState.from_json(recorded[0]) if recorded else None
    return state.describe(datetime.now(UTC)) if state else None


def _status_of_invalid_config(args: argparse.Namespace, exc: UserError) -> int:
    """`ooo status` while the config file is broken: say so, then what the daemon is doing
    (it keeps running on its last good config), found through [state] dir read leniently."""
    from ooo.app import STATE_DB
    from ooo.core.status import fallback_lines
    from ooo.host.lock import holder
    from ooo.store import Store

    accounts = find_accounts(args)
    name = getattr(args, "account", None)
    (account,) = accounts.pick(name) if name else accounts.files[:1]
    path = account.path
    if not path.exists():
        raise exc
    print(exc.render(), file=sys.stderr)
    directory = accounts.state_dir(account)  # [state] dir read leniently, else the default
    db = directory / STATE_DB
    if not db.exists():
        return 2
    pid = holder(directory)
    with Store(db) as store:
        status = store.status()
    for line in fallback_lines(directory, pid, status):
        print(line)
    return 2
