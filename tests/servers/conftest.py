"""Every test in this folder needs the real Dovecot + Postfix (tests/support/mailstack.py):
they carry the ``servers`` marker, so `pytest -m "not servers"` leaves them out.

Also the fixtures that more than one module here uses (the ``mail_stack`` and ``mail_user``
fixtures are in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.tls import Certificates, make_certificates

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.servers)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A throwaway CA and a server certificate it signed for 127.0.0.1 only."""
    return make_certificates(tmp_path_factory.mktemp("tls"))
