"""Where passwords come from: a ``password_command``, or the OS keyring (service "ooo");
for OAuth2 sign-in, an access token from ``token_command`` (ooo.host.oauth).

Passwords are fetched when a connection is opened, never stored by ooo, never logged, and never
part of an error message.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ooo.config import MailboxConfig, PasswordSource, SmtpConfig
from ooo.errors import UserError
from ooo.host.oauth import token_provider

if TYPE_CHECKING:
    from ooo.core.network import NetworkEntry

SERVICE = "ooo"

_NO_BACKEND_ADVICE = (
    "no usable OS keyring was found. Either (1) run a Secret Service: install gnome-keyring "
    "(or KeePassXC) and unlock it in your session; on a headless box, "
    "`dbus-run-session -- sh -c 'gnome-keyring-daemon --unlock --components=secrets; ooo ...'`; "
    'or (2) set password_command in the config (e.g. "pass show mail/bob"); or (3) '
    "`pip install keyrings.alt` - note that its PlaintextKeyring only base64-encodes the password"
)


def keyring_entry(section: str, cfg: PasswordSource, username: str | None, host: str) -> str:
    return cfg.keyring_entry or f"{section}:{username or ''}@{host}"


def entry_for(section: str, cfg: MailboxConfig | SmtpConfig) -> str:
    return keyring_entry(section, cfg, cfg.username, cfg.host)


def password_provider(section: str, cfg: MailboxConfig | SmtpConfig) -> Callable[[], str]:
    """A callable returning the current password (asked each time a connection is opened, so
    a rotated password or an unlocked keyring is picked up without a restart). With
    ``auth = "xoauth2"``/``"oauthbearer"`` it returns an access token from ``token_command``
    instead (see ooo.host.oauth)."""
    if cfg.token_command:
        # The config allows token_command only with a token sign-in (xoauth2, oauthbearer,
        # or the Exchange backend's oauth2), so this is never a password.
        return token_provider(section, cfg.username or "", cfg.token_command)
    if cfg.password_command:
        command = cfg.password_command
        return lambda: run_password_command(section, command)
    entry = entry_for(section, cfg)
    return lambda: keyring_password(section, entry)


def run_password_command(section: str, command: str) -> str:
    try:
        done = subprocess.run(  # noqa: S602 - a shell command line is what the user configured
            command, shell=True, capture_output=True, text=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise UserError(
            f"{section}.password_command did not finish within 60 s",
            advice="run it by hand to see what it waits for (a passphrase prompt?)",
        ) from exc
    if done.returncode != 0:
        # stderr may say "gpg: decryption failed" - useful, and never the password itself.
        err = done.stderr.strip().splitlines()[-1:] or ["(no output on stderr)"]
        raise UserError(
            f"{section}.password_command exited with status {done.returncode}: {err[0][:200]}",
            advice="run the command by hand; it must print the password on its first line",
        )
    lines = done.stdout.splitlines()
    if not lines or not lines[0]:
        raise UserError(f"{section}.password_command printed nothing")
    return lines[0]


def keyring_password(section: str, entry: str) -> str:
    import keyring
    import keyring.errors

    try:
        value = keyring.get_password(SERVICE, entry)
    except keyring.errors.NoKeyringError as exc:
        raise UserError(f"cannot read the {section} password", advice=_NO_BACKEND_ADVICE) from exc
    except keyring.errors.KeyringError as exc:
        raise UserError(
            f"the keyring refused to give the {section} password ({type(exc).__name__})",
            advice="unlock your keyring, or set password_command in the config",
        ) from exc
    if value is None:
        raise UserError(
            f"no {section} password in the keyring (service {SERVICE!r}, entry {entry!r})",
            advice=f"store it with `ooo secret set {section}`, or set {section}.password_command",
        )
    return value


def set_password(section: str, entry: str, password: str) -> None:
    import keyring
    import keyring.errors

    try:
        keyring.set_password(SERVICE, entry, password)
    except keyring.errors.NoKeyringError as exc:
        raise UserError(f"cannot store the {section} password", advice=_NO_BACKEND_ADVICE) from exc
    except keyring.errors.KeyringError as exc:
        raise UserError(f"the keyring refused to store the password: {type(exc).__name__}") from exc


def delete_password(section: str, entry: str) -> bool:
    import keyring
    import keyring.errors

    try:
        keyring.delete_password(SERVICE, entry)
    except keyring.errors.PasswordDeleteError:
        return False
    except keyring.errors.NoKeyringError as exc:
        raise UserError(
            f"cannot reach the keyring for {section}", advice=_NO_BACKEND_ADVICE
        ) from exc
    return True


def network_secret(entry: NetworkEntry) -> Callable[[], str]:
    """The token or password a watched ``[[network]]`` entry signs in with, asked at each
    sign-in: its token_command or password_command, else the keyring entry
    (``ooo secret set network.<kind>``)."""
    section = f"network {entry.watch_name}"
    command = entry.token_command or entry.password_command
    if command:
        return lambda: run_password_command(section, command)
    keyring_entry_name = entry.keyring_entry or f"network.{entry.kind}"
    return lambda: keyring_password(section, keyring_entry_name)


class FileVault:
    """A watcher's login session (Bluesky's session string, a Matrix access token obtained
    with a password) kept between runs in a 0600 file of the state directory, so that ooo
    logs in only when the session is gone (logins are rate-limited per account). The value is
    a secret: it is never logged and never in the state database."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> str | None:
        try:
            value = self.path.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return value or None

    def save(self, value: str) -> None:
        from ooo.host.files import write_atomic

        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(self.path, value, mode=0o600)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def session_vault(entry: NetworkEntry, state_dir: Path) -> FileVault:
    """Where ``entry``'s watcher keeps its session: ``<state dir>/sessions/<digest>``."""
    digest = hashlib.sha256(entry.watch_name.encode("utf-8")).hexdigest()[:16]
    return FileVault(state_dir / "sessions" / f"{entry.kind}-{digest}")
