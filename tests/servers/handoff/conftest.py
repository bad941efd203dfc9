"""The handoff against the real Dovecot/Pigeonhole (ManageSieve, Sieve at LMTP delivery, vacation
replies through the test Postfix): every test here carries the ``servers`` marker, so
`pytest -m "not servers"` leaves them out (tests/servers/conftest.py marks them too; this keeps
the folder's marking visible where its tests are).

Fixtures: ``sieve_handoff`` builds a SieveHandoff for an owner of the private stack through
ooo.handoff.create, from a real config file, as the daemon will."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ooo.config import loads
from ooo.handoff import create
from ooo.handoff.sieve import SieveHandoff
from ooo.templating import Renderer
from tests.support.mailstack import MailStack, User

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.servers)


def handoff_config(stack: MailStack, owner: User, *, extra: str = "", lease: str = "1m") -> str:
    """A config for ``owner`` on the stack: IMAP and ManageSieve on loopback, plain; an away
    window from an hour ago to tomorrow."""
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = now - timedelta(hours=1), now + timedelta(days=1)
    return f"""
[owner]
name = "Bob Example"
addresses = ["{owner.address}"]

[away]
start = {start.isoformat().replace("+00:00", "Z")}
end = {end.isoformat().replace("+00:00", "Z")}

[mailbox]
host = "{stack.host}"
port = {stack.imap_port}
security = "plain"
username = "{owner.login}"
password_command = "printf %s {owner.password}"

[smtp]
host = "{stack.host}"
port = {stack.submission_port}
security = "plain"

[handoff]
method = "sieve"
port = {stack.managesieve_port}
lease = "{lease}"
{extra}
"""


@pytest.fixture
def sieve_handoff(mail_stack: MailStack, tmp_path: Path) -> Iterator[Callable[..., SieveHandoff]]:
    """``sieve_handoff(owner, clock=..., extra=...)``: the owner's SieveHandoff, from a config."""
    made: list[SieveHandoff] = []

    def make(
        owner: User, clock: Callable[[], datetime] | None = None, extra: str = ""
    ) -> SieveHandoff:
        cfg = loads(handoff_config(mail_stack, owner, extra=extra), tmp_path / "config.toml")
        h = create(cfg, Renderer(), clock or (lambda: datetime.now(UTC)))
        assert isinstance(h, SieveHandoff)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()
