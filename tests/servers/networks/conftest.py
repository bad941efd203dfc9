"""The Matrix tests' real Synapse (tests/support/synapse.py), started once per session.

Every test here carries the ``servers`` marker (like the rest of tests/servers), so
`pytest -m "not servers"` leaves them out. A missing Synapse is a failure with the command that
installs it, never a skip: a suite that skips its real server proves nothing.

Set OOO_KEEP_SYNAPSE=1 to keep the server's folder (config, logs, database) after the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.synapse import MatrixUser, Synapse, SynapseMissing

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.servers)


@pytest.fixture(scope="session")
def synapse() -> Iterator[Synapse]:
    server = Synapse()
    try:
        server.start()
    except SynapseMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        if os.environ.get("OOO_KEEP_SYNAPSE"):
            server.stop()
            print(f"\nSynapse kept in {server.root}")
        else:
            server.cleanup()


@pytest.fixture
def people(synapse: Synapse) -> dict[str, MatrixUser]:
    """Fresh users for one test: the owner (ooo signs in as them) and two teammates."""
    tag = uuid.uuid4().hex[:6]
    made = {name: synapse.register(f"{name}{tag}") for name in ("bob", "carol", "dave")}
    synapse.set_display_name(made["carol"], "Carol Jones")
    synapse.set_display_name(made["dave"], "Dave")
    return made
