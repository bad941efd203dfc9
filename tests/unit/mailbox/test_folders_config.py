"""``[mailbox] folders``: what the config accepts, which backend it builds, and how the store
names several folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ooo import mailbox as mailboxes
from ooo.config import Config
from ooo.config import loads as _loads
from ooo.errors import UserError
from ooo.mailbox.imap import ImapMailbox
from ooo.mailbox.imap_folders import ImapFoldersMailbox
from tests.support.configs import GOOD


def loads(text: str) -> Config:
    return _loads(text, Path("config.toml"))


FOLDERS = GOOD.replace('username = "bob"\n', 'username = "bob"\nfolders = ["INBOX", "Clients/*"]\n')


def test_folders_builds_the_several_folder_backend() -> None:
    """folders = [...] with a pattern gives the several-folder IMAP mailbox, the Sent folder
    excluded, and a store name that stays the same when the list changes."""
    cfg = loads(FOLDERS.replace('"Clients/*"]', '"Clients/*"]\nsent_folder = "Archive/Sent"'))
    box = mailboxes.create(cfg.mailbox, lambda: "pw")
    assert isinstance(box, ImapFoldersMailbox)
    assert box.patterns == ("INBOX", "Clients/*")
    assert "Archive/Sent" in box.exclude
    assert mailboxes.mailbox_id(cfg.mailbox) == "imap:bob@127.0.0.1:1143/*"


def test_one_folder_named_either_way_is_the_single_folder_backend() -> None:
    """folder = "X" and folders = ["X"] watch the same way under the same store name, so the
    cursor of an existing setup carries over."""
    plain = loads(GOOD.replace('username = "bob"\n', 'username = "bob"\nfolder = "Work"\n'))
    listed = loads(GOOD.replace('username = "bob"\n', 'username = "bob"\nfolders = ["Work"]\n'))
    for cfg in (plain, listed):
        box = mailboxes.create(cfg.mailbox, lambda: "pw")
        assert type(box) is ImapMailbox and box.folder == "Work"
        assert mailboxes.mailbox_id(cfg.mailbox) == "imap:bob@127.0.0.1:1143/Work"


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('folder = "INBOX"\nfolders = ["INBOX"]', "mailbox.folder and mailbox.folders are both"),
        ("folders = []", "mailbox.folders is empty"),
        ('folders = ["INBOX", "INBOX"]', "names a folder twice"),
        ('folders = ["INBOX", ""]', "is not a folder name"),
    ],
)
def test_bad_folders_are_config_errors_naming_the_key(line: str, says: str) -> None:
    """A broken folders list is a config error that names the key and what is wrong."""
    with pytest.raises(UserError) as caught:
        loads(GOOD.replace('username = "bob"\n', f'username = "bob"\n{line}\n'))
    assert says in caught.value.render()


def test_exchange_with_several_folders_is_a_config_error() -> None:
    """Exchange watches one folder: several (or a pattern) is an error naming
    mailbox.folders and saying to use mailbox.folder."""
    exchange = GOOD.replace(
        'host = "127.0.0.1"\nport = 1143\nsecurity = "plain"\nusername = "bob"\n',
        'backend = "exchange"\nservice_endpoint = "https://127.0.0.1/EWS/Exchange.asmx"\n'
        'username = "bob@example.com"\nfolders = ["Inbox", "Clients/*"]\n',
        1,
    )
    with pytest.raises(UserError) as caught:
        loads(exchange)
    text = caught.value.render()
    assert "mailbox.folders" in text and 'backend = "exchange"' in text


def test_status_shows_each_folders_place() -> None:
    """`ooo status` shows a cursor of several folders as each folder's validity:last UID;
    a single folder's cursor as it always was."""
    from datetime import UTC, datetime

    from ooo.mailbox.base import FolderCursors, describe_cursor

    since = datetime(2026, 12, 20, tzinfo=UTC)
    cursor = FolderCursors(since, {"INBOX": (7, 42), "Clients/acme": (9, 3)}).encode()
    assert describe_cursor(cursor) == "Clients/acme 9:3, INBOX 7:42"
    assert describe_cursor("7:42") == "7:42"
    assert describe_cursor(None) is None


folder_names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\0"), min_size=1
)


@given(folder=folder_names, uid=st.integers(min_value=1, max_value=2**32 - 1))
def test_a_key_gives_back_its_folder_whatever_the_folder_is_called(folder: str, uid: int) -> None:
    """Any folder name (colons, slashes, non-ASCII) comes back from a message key unchanged."""
    from ooo.mailbox.base import qualified_key, split_key

    assert split_key(qualified_key(folder, str(uid))) == (folder, str(uid))


@given(
    positions=st.dictionaries(
        folder_names,
        st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
        max_size=8,
    )
)
def test_a_cursor_of_several_folders_round_trips(positions: dict[str, tuple[int, int]]) -> None:
    """Each folder's validity and place survive encoding, whatever the folders are called."""
    from datetime import UTC, datetime

    from ooo.mailbox.base import FolderCursors

    since = datetime(2026, 12, 20, 8, 30, tzinfo=UTC)
    decoded = FolderCursors.decode(FolderCursors(since, positions).encode())
    assert decoded.since == since and decoded.positions == positions
