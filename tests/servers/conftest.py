"""Every test in this folder needs the real Dovecot + Postfix (tests/support/mailstack.py):
they carry the ``servers`` marker, so `pytest -m "not servers"` leaves them out."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.servers)
