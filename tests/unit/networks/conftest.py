"""Fixtures for the network watcher tests: a state database with inquiries in it, and the
in-memory networks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ooo.store import Store
from tests.support.helpers import tracked

START = datetime(2026, 12, 20, 0, 0, tzinfo=UTC)
"""The away window's start in these tests."""
ARRIVED = datetime(2026, 12, 22, 9, 0, tzinfo=UTC)
"""When the inquiries arrived."""

AddInquiry = Callable[..., str]


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "ooo.db"


@pytest.fixture
def store(state_path: Path) -> Iterator[Store]:
    """The state database (a file, so that runner threads can open their own connections)."""
    yield tracked(Store(state_path))


@pytest.fixture
def add_inquiry(store: Store) -> AddInquiry:
    """``add_inquiry("OOO-7K3Q9M", audience="internal", ...)``: an inquiry as the engine
    records it; returns its reference."""
    serial = iter(range(1, 10_000))

    def add(
        ref: str,
        *,
        sender: str = "alice@example.org",
        from_name: str = "Alice Asker",
        subject: str = "Deploy fails",
        audience: str = "external",
        received_at: datetime = ARRIVED,
    ) -> str:
        n = next(serial)
        with store.transaction():
            store.record_message(
                mailbox="memory:test/INBOX",
                epoch=0,
                key=str(n),
                message_id=f"<m{n}@example.org>",
                sender=sender,
                from_name=from_name,
                subject=subject,
                received_at=received_at,
                decided_at=received_at + timedelta(seconds=1),
                reason="reply",
                detail="",
                ref=ref,
                audience=audience,
            )
        return ref

    return add
