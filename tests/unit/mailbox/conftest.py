"""Fixtures that more than one mailbox test module uses."""

from __future__ import annotations

import pytest

from tests.support.tls import Certificates, make_certificates


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A throwaway CA and a server certificate it signed for 127.0.0.1 only."""
    return make_certificates(tmp_path_factory.mktemp("tls"))
