"""A private Synapse homeserver for the Matrix tests: the real server from the package registry
(``matrix-synapse``), started on a free loopback port with SQLite under a throwaway folder.

One server per test session (start-up takes a few seconds): :class:`Synapse` writes its config
(JSON, which is YAML), lets Synapse generate its signing key, starts ``python -m
synapse.app.homeserver`` and waits for ``/_matrix/client/versions`` to answer. Users are
registered with the shared secret through the admin API (``/_synapse/admin/v1/register``, as
``register_new_matrix_user`` does; registration itself stays disabled), and every rate limit
is raised so that tests never meet a 429. Federation is off: the server talks to nobody.

Helpers speak the client-server API with ``urllib`` (as a teammate's client would): create
rooms (any room version, with an alias), join, send messages, thread replies and plain
replies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

SERVER_NAME = "localhost"
HIGH = {"per_second": 10_000, "burst_count": 100_000}


class SynapseMissing(RuntimeError):
    """Synapse is not installed in this Python environment."""


def synapse_installed() -> bool:
    try:
        import synapse  # noqa: F401
    except ImportError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class MatrixUser:
    user_id: str
    password: str
    access_token: str
    device_id: str


class Synapse:
    """One Synapse on 127.0.0.1 (server name ``localhost``)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="ooo-synapse-"))
        self.port = _free_port()
        self.secret = secrets.token_urlsafe(24)
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_in: float | None = None
        """Seconds from launch to the client API answering."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle ---------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return {
            "server_name": SERVER_NAME,
            "pid_file": str(self.root / "homeserver.pid"),
            "listeners": [
                {
                    "port": self.port,
                    "type": "http",
                    "tls": False,
                    "bind_addresses": ["127.0.0.1"],
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {"name": "sqlite3", "args": {"database": str(self.root / "homeserver.db")}},
            "log_config": str(self.root / "log.config"),
            "media_store_path": str(self.root / "media"),
            "signing_key_path": str(self.root / "signing.key"),
            "registration_shared_secret": self.secret,
            "enable_registration": False,
            # Throwaway users: cheap password hashing keeps registering them fast.
            "bcrypt_rounds": 4,
            "report_stats": False,
            "macaroon_secret_key": secrets.token_urlsafe(24),
            "form_secret": secrets.token_urlsafe(24),
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "federation_domain_whitelist": [],
            "presence": {"enabled": False},
            "url_preview_enabled": False,
            "rc_message": HIGH,
            "rc_registration": HIGH,
            "rc_login": {"address": HIGH, "account": HIGH, "failed_attempts": HIGH},
            "rc_joins": {"local": HIGH, "remote": HIGH},
            "rc_joins_per_room": HIGH,
            "rc_invites": {"per_room": HIGH, "per_user": HIGH, "per_issuer": HIGH},
            "rc_room_creation": HIGH,
            "rc_admin_redaction": HIGH,
        }

    def _log_config(self) -> dict[str, Any]:
        return {
            "version": 1,
            "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "formatter": "plain",
                    "filename": str(self.root / "homeserver.log"),
                }
            },
            "root": {"level": "WARNING", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }

    def start(self, timeout: float = 60.0) -> Synapse:
        if not synapse_installed():
            raise SynapseMissing(
                "Synapse is not installed in this Python environment: "
                f"`{sys.executable} -m pip install matrix-synapse` (scripts/test installs the "
                "test extras, which include it)"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        # JSON is YAML: Synapse reads these as they are.
        (self.root / "homeserver.yaml").write_text(json.dumps(self.config(), indent=1))
        (self.root / "log.config").write_text(json.dumps(self._log_config(), indent=1))
        launched = time.monotonic()
        with open(self.root / "stdout.log", "wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "synapse.app.homeserver",
                    "--config-path",
                    str(self.root / "homeserver.yaml"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env={**os.environ, "SYNAPSE_NO_TLS": "1"},
            )
        deadline = launched + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"Synapse exited with status {self.proc.returncode}:\n{self._tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/_matrix/client/versions", timeout=2):  # noqa: S310
                    break
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"Synapse did not answer within {timeout:.0f} s:\n{self._tail()}"
                    ) from None
                time.sleep(0.1)
        self.started_in = time.monotonic() - launched
        return self

    def _tail(self) -> str:
        lines = []
        for name in ("stdout.log", "homeserver.log"):
            path = self.root / name
            if path.exists():
                lines += path.read_text(errors="replace").splitlines()[-30:]
        return "\n".join(lines)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- the client-server API ---------------------------------------------------------------

    def api(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> dict[str, Any]:
        """One request; the JSON answer. An HTTP error raises with the server's answer."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)  # noqa: S310
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                return dict(json.loads(answer.read() or b"{}"))
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from None

    def register(self, localpart: str | None = None, password: str | None = None) -> MatrixUser:
        """A new user through the shared-secret admin API (registration stays disabled)."""
        localpart = localpart or f"user{uuid.uuid4().hex[:8]}"
        password = password or secrets.token_urlsafe(12)
        nonce = self.api("GET", "/_synapse/admin/v1/register")["nonce"]
        mac = hmac.new(self.secret.encode(), digestmod=hashlib.sha1)
        for part in (nonce, localpart, password, "notadmin"):
            mac.update(part.encode())
            if part != "notadmin":
                mac.update(b"\x00")
        answer = self.api(
            "POST",
            "/_synapse/admin/v1/register",
            {
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": False,
                "mac": mac.hexdigest(),
            },
        )
        return MatrixUser(answer["user_id"], password, answer["access_token"], answer["device_id"])

    def create_room(
        self,
        owner: MatrixUser,
        *,
        alias: str | None = None,
        version: str | None = None,
        name: str = "Team help",
        invite: tuple[MatrixUser, ...] = (),
        encrypted: bool = False,
    ) -> str:
        """A public room (anyone on the server may join), its id."""
        body: dict[str, Any] = {
            "preset": "public_chat",
            "name": name,
            "invite": [u.user_id for u in invite],
        }
        if alias:
            body["room_alias_name"] = alias
        if version:
            body["room_version"] = version
        if encrypted:
            body["initial_state"] = [
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            ]
        return str(
            self.api("POST", "/_matrix/client/v3/createRoom", body, owner.access_token)["room_id"]
        )

    def join(self, user: MatrixUser, room: str) -> None:
        self.api("POST", f"/_matrix/client/v3/join/{quote(room, safe='')}", {}, user.access_token)

    def send(
        self,
        user: MatrixUser,
        room: str,
        text: str,
        *,
        thread: str | None = None,
        reply_to: str | None = None,
    ) -> str:
        """A message; ``thread``: a reply in that thread (m.thread, with the fallback
        in-reply-to, as clients send it); ``reply_to``: a plain reply (m.in_reply_to)."""
        content: dict[str, Any] = {"msgtype": "m.text", "body": text}
        if thread is not None:
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": thread,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": reply_to or thread},
            }
        elif reply_to is not None:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        txn = uuid.uuid4().hex
        path = f"/_matrix/client/v3/rooms/{quote(room, safe='')}/send/m.room.message/{txn}"
        return str(self.api("PUT", path, content, user.access_token)["event_id"])

    def set_display_name(self, user: MatrixUser, name: str) -> None:
        self.api(
            "PUT",
            f"/_matrix/client/v3/profile/{quote(user.user_id, safe='')}/displayname",
            {"displayname": name},
            user.access_token,
        )

    def event(self, user: MatrixUser, room: str, event_id: str) -> dict[str, Any]:
        return self.api(
            "GET",
            f"/_matrix/client/v3/rooms/{quote(room, safe='')}/event/{quote(event_id, safe='')}",
            token=user.access_token,
        )
