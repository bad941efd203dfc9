"""The core is pure: importing it loads no mail, network, database, keyring or process
library, so nothing in it can open a socket, a database or a subprocess by accident."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import ooo.core

FORBIDDEN = (
    "imapclient",
    "exchangelib",
    "smtplib",
    "imaplib",
    "sqlite3",
    "keyring",
    "subprocess",
    # Not "socket" itself: the stdlib's email.utils imports it (for make_msgid's host name);
    # what must not load are the clients that open connections.
    "ssl",
    "http.client",
    "urllib.request",
    "requests",
    "httpx",
    "mastodon",
    "atproto",
    "nio",
    "sievelib",
    "jeepney",
)


def test_importing_the_core_loads_no_io_library() -> None:
    """Every module of ooo.core, imported in a fresh interpreter, pulls in none of the
    libraries that do I/O (checked in sys.modules afterwards)."""
    modules = [f"ooo.core.{m.name}" for m in pkgutil.iter_modules(ooo.core.__path__)]
    assert len(modules) >= 10, modules
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in {list(FORBIDDEN)!r} if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(done.stdout) == []


def test_the_check_would_catch_an_io_import() -> None:
    """The same probe does see a library that a module imports (so the test above can fail)."""
    code = (
        "import json, sys, ooo.store\n"
        f"print(json.dumps(sorted(m for m in {list(FORBIDDEN)!r} if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "sqlite3" in json.loads(done.stdout)
