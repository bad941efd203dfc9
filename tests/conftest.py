"""Shared pytest fixtures (fixtures only; add new ones below)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator

import pytest

from tests.support.helpers import OPEN_STORES
from tests.support.mailstack import MailStack, User, missing_binaries

# Session-wide, so every mailbox name handed out by `mail_user` is unique within the session.
_user_serial = itertools.count(1)


@pytest.fixture(scope="session")
def mail_stack() -> Iterator[MailStack]:
    """The private Dovecot + Postfix of tests/support/mailstack.py, started once per session.

    Set OOO_KEEP_MAILSTACK=1 to keep its folder (logs, mailboxes, configs) after the run.
    """
    missing = missing_binaries()
    if missing:
        # Never skip: a suite that silently skips its real-server tests proves nothing.
        pytest.fail(
            f"mail servers not installed ({', '.join(missing)} missing): "
            "run scripts/install-mailservers first (or scripts/test, which does)",
            pytrace=False,
        )
    stack = MailStack()
    try:
        stack.start()
        yield stack
    finally:
        if os.environ.get("OOO_KEEP_MAILSTACK"):
            stack.stop()
            print(f"\nmail stack kept in {stack.root}")
        else:
            stack.cleanup()


@pytest.fixture
def mail_user(mail_stack: MailStack) -> Callable[[str], User]:
    """Factory: ``mail_user("bob")`` gives a mailbox such as ``bob-7@example.test`` that no other
    test uses, so tests never see each other's mail. The same name within one test gives the
    same User. Also restarts a daemon that an earlier (failed) outage test left stopped."""
    mail_stack.start()
    made: dict[str, User] = {}

    def make(name: str) -> User:
        if name not in made:
            made[name] = mail_stack.add_user(f"{name}-{next(_user_serial)}")
        return made[name]

    return make


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    """Close the stores a test opened through tests.support.helpers (make_engine, tracked) when it
    ends, so no connection is left to the garbage collector."""
    yield
    while OPEN_STORES:
        OPEN_STORES.pop().close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A contract test (``@pytest.mark.contract(item)``, tests/support/transport_contract.py)
    is deselected for a backend that declares it cannot honour that item (its ``cannot``
    mapping gives the reason): an opt-out in code, not a skip on CI's happy path."""
    kept, dropped = [], []
    for item in items:
        mark = item.get_closest_marker("contract")
        cannot = getattr(getattr(item, "cls", None), "cannot", {})
        (dropped if mark and mark.args[0] in cannot else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
