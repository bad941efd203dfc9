"""A private, throwaway Dovecot + Postfix mail stack on 127.0.0.1 for ooo's tests and benchmarks.

`MailStack` writes its own configuration under a short temporary root (default
``/tmp/ooo-ms-XXXXXXXX``), starts Debian's Dovecot 2.3 and Postfix 3.7 from it on free,
dynamically chosen loopback ports, and touches no system configuration and no standard port.
The configuration files are templates in ``tests/support/mailstack/`` (``dovecot.conf.in``,
``main.cf.in``, ``master.cf.in``, ...) whose ``${ooo_name}`` placeholders `render_template`
fills; every other ``$`` in them is Dovecot's or Postfix's own.

Mail flow::

    smtp_port        (no AUTH)           --> Postfix --LMTP--> Dovecot (Sieve) --> Maildir
    submission_port  (AUTH, Dovecot SASL) -/       ^                |
                                                   +-- smtp_port <--+  Sieve vacation replies

- ManageSieve (RFC 5804) listens on `managesieve_port`, plain text on loopback; the scripts it
  stores are the ones `set_sieve` writes (``~/sieve``, active one linked from
  ``~/.dovecot.sieve``), and Sieve runs them at LMTP delivery.
- All users live in one domain, `domain` = ``example.test``; ``user+anything@`` is delivered to
  ``user``'s INBOX; mail to an unknown local part is refused at RCPT time (550).
- Mail to `elsewhere` = ``elsewhere.example.test`` stands for mail to the rest of the world:
  ``user@elsewhere...`` reaches the same ``user``'s INBOX, but through a Postfix transport of
  its own (``elsewhere``, LMTP to the same Dovecot), so it has a queue of its own, as outgoing
  mail has beside a real server's own deliveries (``bench_responders.py --senders-elsewhere``
  puts its senders there: the answers to a burst then do not wait behind the burst's own
  deliveries to the owner).
- Nothing can leave the machine: every non-local transport is ``error:``, DNS is off, and
  relaying outside `domain` is refused on both SMTP ports, even after AUTH.
- Mailboxes are Maildirs under ``ROOT/mail/<login>``, owned by Debian's ``mail`` user (uid 8).
- Logs: ``ROOT/dovecot/dovecot.log`` and ``ROOT/postfix/maillog`` (see `MailStack.log_text`).
- A watchdog child process stops the daemons when the owning process exits in any way, so an
  aborted or killed test run leaves no servers behind.

Run ``python -m tests.support.mailstack`` to start a stack by hand: it prints ports and users as
JSON and runs until Ctrl-C.

Needs root (Dovecot and Postfix switch users) and the Debian packages installed by
``scripts/install-mailservers``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import imapclient

__all__ = ["DEFAULT_PASSWORD", "MailServersMissing", "MailStack", "User", "missing_binaries"]

DEFAULT_PASSWORD = "secret"

# Debian's stock `mail` user owns all mailboxes (one uid for every virtual user keeps it simple).
MAIL_UID = 8
MAIL_GID = 8

# sbin is often missing from a non-login PATH; the daemons live there.
_SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin", "/usr/local/sbin"]
)
_BINARIES = ("dovecot", "postfix", "postmap", "sievec")
# Services Dovecot starts from its own folder (Debian's path): ManageSieve, from the
# dovecot-managesieved package.
_DOVECOT_SERVICES = ("/usr/lib/dovecot/managesieve", "/usr/lib/dovecot/managesieve-login")

# Unix socket paths are limited to 107 bytes; the longest socket either daemon puts under its
# base/queue directory adds about 25 bytes, so leave a margin.
_MAX_SOCKET_DIR_LEN = 107 - 32

_LOCAL_PART_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")
_START_TIMEOUT = 20.0
_STOP_TIMEOUT = 10.0
_POLL = 0.02

#: The configuration files' templates (``<file>.in``), filled by `render_template`.
TEMPLATES = Path(__file__).resolve().parent / "mailstack"


class _ConfigTemplate(string.Template):
    """``${ooo_name}`` placeholders, and nothing else: Dovecot and Postfix use ``$`` themselves
    (``$myhostname``, ``${queue_directory}``, ``$mail_plugins``), so a ``$`` not followed by
    ``{ooo_`` is theirs and passes through as written, with no escaping."""

    flags = re.NOFLAG  # case-sensitive: ${OOO_X} is not ours
    # A string, compiled (verbose) by string.Template when the class is made; typeshed only
    # knows the compiled form.
    pattern = r"""
    \$(?:
        (?P<escaped>(?!))                   # never: no $ of ours needs escaping
      | (?P<named>(?!))                     # never: only the braced form is a placeholder
      | \{(?P<braced>ooo_[a-z0-9_]+)\}      # ${ooo_name}: filled from the values given
      | (?P<invalid>\{ooo_)                 # a ${ooo_ that is not well formed: an error
    )
    """  # type: ignore[assignment]


@cache
def _template(name: str) -> _ConfigTemplate:
    return _ConfigTemplate((TEMPLATES / f"{name}.in").read_text())


def render_template(name: str, **values: object) -> str:
    """The file ``mailstack/<name>.in`` with ``${ooo_<key>}`` replaced by ``values[key]``.

    Every placeholder must have a value and every value a placeholder: a template and this
    module cannot drift apart silently (ValueError naming the file and the names)."""
    template = _template(name)
    wanted = set(template.get_identifiers())
    given = {f"ooo_{key}": str(value) for key, value in values.items()}
    missing, unused = wanted - given.keys(), given.keys() - wanted
    if missing or unused:
        raise ValueError(
            f"{TEMPLATES / name}.in: placeholders without a value: {_listed(missing)}; "
            f"values without a placeholder: {_listed(unused)}"
        )
    return template.substitute(given)


def _listed(names: Iterable[str]) -> str:
    return ", ".join(f"${{{name}}}" for name in sorted(names)) or "none"


class MailServersMissing(RuntimeError):
    """Dovecot/Postfix binaries are not installed."""


def missing_binaries() -> list[str]:
    """Names of the server programs this module needs that are not installed."""
    missing = [name for name in _BINARIES if shutil.which(name, path=_SEARCH_PATH) is None]
    return missing + [path for path in _DOVECOT_SERVICES if not Path(path).exists()]


def _binary(name: str) -> str:
    path = shutil.which(name, path=_SEARCH_PATH)
    if path is None:
        raise MailServersMissing(
            f"{name!r} not found: run scripts/install-mailservers (installs Debian's Dovecot "
            "and Postfix packages)"
        )
    return path


@dataclass(frozen=True)
class User:
    """A mailbox on the stack.

    `login` is the bare local part (``"bob"``) and is what IMAP and SMTP AUTH expect; Dovecot
    strips the domain (``auth_username_format = %Ln``), so logging in with the full `address`
    works too.
    """

    login: str
    address: str
    password: str


def _free_ports(count: int) -> list[int]:
    """Ask the kernel for `count` distinct free loopback ports.

    All sockets are held open together so the ports differ from each other; another process may
    still grab one before the daemons bind it, which `MailStack.start` handles by retrying.
    """
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, session id) of a process, or None if it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = data[data.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[3])


def _alive(pid: int) -> bool:
    stat = _proc_stat(pid)
    # A daemon's master is reparented when it daemonizes; if nobody reaps it, a zombie is dead.
    return stat is not None and stat[0] not in ("Z", "X")


def _family(master: int) -> set[int]:
    """Live processes belonging to a daemon: its session (both masters call setsid) plus any
    descendants that might have left it."""
    stats: dict[int, tuple[str, int, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat is not None and stat[0] not in ("Z", "X"):
                stats[int(entry)] = stat
    family = {pid for pid, (_, _, sid) in stats.items() if sid == master}
    if master in stats:
        family.add(master)
    grew = True
    while grew:
        extra = {pid for pid, (_, ppid, _) in stats.items() if ppid in family} - family
        family |= extra
        grew = bool(extra)
    return family


def _wait_until(condition: Callable[[], bool], timeout: float, interval: float = _POLL) -> bool:
    """Poll `condition` until it is true or `timeout` seconds have passed; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _banner(port: int, prefix: bytes) -> bool:
    """True if something on 127.0.0.1:`port` greets with a line starting with `prefix`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            data = b""
            while b"\n" not in data and len(data) < 4096:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            return data.startswith(prefix)
    except OSError:
        return False


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no file)"
    return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class _Layout:
    """Where everything lives under a stack's root (shared with the watchdog process)."""

    root: Path

    @property
    def dovecot_dir(self) -> Path:
        return self.root / "dovecot"

    @property
    def dovecot_conf(self) -> Path:
        return self.dovecot_dir / "dovecot.conf"

    @property
    def base_dir(self) -> Path:
        return self.dovecot_dir / "run"

    @property
    def postfix_dir(self) -> Path:
        return self.root / "postfix"

    @property
    def postfix_conf(self) -> Path:
        # Postfix's config folder must hold only root-owned files (postfix-script warns about
        # anything else in it), so the postfix-owned queue and data folders live beside it.
        return self.postfix_dir / "etc"

    @property
    def queue_dir(self) -> Path:
        return self.postfix_dir / "queue"

    @property
    def mail_dir(self) -> Path:
        return self.root / "mail"

    def dovecot_pid(self) -> int | None:
        """Dovecot's master, if running (checked against its command line, not only the pid
        file, so a stale file and a recycled pid cannot fool it)."""
        return _verified_pid(
            self.base_dir / "master.pid", "cmdline", str(self.dovecot_conf).encode()
        )

    def postfix_pid(self) -> int | None:
        """Postfix's master, if running (checked against its MAIL_CONFIG environment)."""
        return _verified_pid(
            self.queue_dir / "pid" / "master.pid",
            "environ",
            f"MAIL_CONFIG={self.postfix_conf}".encode(),
        )


def _verified_pid(pidfile: Path, proc_file: str, needle: bytes) -> int | None:
    try:
        pid = int(pidfile.read_text().split()[0])
        fields = Path(f"/proc/{pid}/{proc_file}").read_bytes().split(b"\0")
    except (OSError, ValueError, IndexError):
        return None
    return pid if needle in fields and _alive(pid) else None


def _kill_daemon(pid: int | None) -> set[int]:
    """SIGTERM a daemon's master and all its processes; return those still alive."""
    if pid is None:
        return set()
    # The master first (so it does not respawn anything), then every other process of the
    # daemon. Signalling only the master is slow: Dovecot's master polls its children once a
    # second before exiting (holding the listening ports meanwhile), and its auth, anvil and
    # stats processes can then wait ~30 s for each other to disconnect.
    family = _family(pid)
    for p in [pid, *(family - {pid})]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGTERM)
    return family


def _reap_when_stdin_closes(root: Path) -> None:
    """Watchdog process body: once the stack's owner exits (or is killed, or calls cleanup) and
    our stdin pipe reaches EOF, stop whatever daemons of `root` are still running, so an aborted
    test run leaves no mail servers behind."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the owner, not for us
    sys.stdin.buffer.read()
    layout = _Layout(root)
    family = _kill_daemon(layout.postfix_pid()) | _kill_daemon(layout.dovecot_pid())
    if not _wait_until(lambda: not any(_alive(p) for p in family), _STOP_TIMEOUT):
        for p in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)


class MailStack:
    """Private Dovecot + Postfix on 127.0.0.1 (see the module docstring for the mail flow).

    Ports are chosen when the object is created and kept across restarts, so clients of an
    outage test reconnect to the same place. Methods are safe to call from several threads.
    Besides the documented API: `auth_port` (Dovecot SASL for Postfix), `flush_queue()`,
    `log_tail()`, `users`, `info()`, `cleanup()` (stop + delete the root it created), and use
    as a context manager.
    """

    domain: str = "example.test"
    elsewhere: str = "elsewhere.example.test"
    host: str = "127.0.0.1"

    def __init__(
        self, root: Path | None = None, *, oauth2_introspection_url: str | None = None
    ) -> None:
        """`oauth2_introspection_url`: also accept XOAUTH2 and OAUTHBEARER logins (IMAP and
        submission), checking each bearer token with an RFC 7662-style POST to this URL, which
        must answer ``{"active": true, "username": "<login>"}`` for a good token. Password
        logins work as before."""
        self.oauth2_introspection_url = oauth2_introspection_url
        if root is None:
            root = Path(tempfile.mkdtemp(prefix="ooo-ms-", dir="/tmp"))
            self._owns_root = True
        else:
            root = Path(root).absolute()
            root.mkdir(parents=True, exist_ok=True)
            self._owns_root = False
        # mkdtemp makes 0700, but Dovecot's and Postfix's unprivileged processes must traverse it.
        root.chmod(0o755)
        self.root: Path = root
        self._paths = _Layout(root)
        for sock_dir in (self._paths.base_dir, self._paths.queue_dir):
            if len(str(sock_dir)) > _MAX_SOCKET_DIR_LEN:
                raise ValueError(
                    f"root {root} is too long: unix socket paths under it would exceed 107 bytes"
                )
        self._lock = threading.RLock()
        self._users: dict[str, User] = {}
        self._sieve_counter = itertools.count(1)
        self._postfix_started_once = False
        self._started_once = False
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._choose_ports()

    # ----------------------------------------------------------------- configuration

    def _choose_ports(self) -> None:
        (
            self.imap_port,
            self.smtp_port,
            self.submission_port,
            self.lmtp_port,
            self.auth_port,
            self.managesieve_port,
        ) = _free_ports(6)

    @property
    def dovecot_log(self) -> Path:
        return self._paths.dovecot_dir / "dovecot.log"

    @property
    def postfix_log(self) -> Path:
        return self._paths.postfix_dir / "maillog"

    def _write_config(self) -> None:
        for d in (
            self._paths.dovecot_dir,
            self._paths.postfix_dir,
            self._paths.postfix_conf,
            self._paths.mail_dir,
            self._paths.queue_dir,
        ):
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o755)
        self._paths.base_dir.mkdir(exist_ok=True)
        (self._paths.dovecot_dir / "state").mkdir(exist_ok=True)
        self._paths.dovecot_conf.write_text(self._dovecot_conf())
        for name, text in (
            ("main.cf", self._postfix_main_cf()),
            ("master.cf", self._postfix_master_cf()),
        ):
            path = self._paths.postfix_conf / name
            path.write_text(text)
            # Every Postfix program re-reads a config file modified in the last second, in
            # 0.3 s steps, until it has "cooled down" (it might be mid-edit): backdate ours so
            # start-up and each postmap do not pay up to ~2 s for that.
            past = time.time() - 60
            os.utime(path, (past, past))
        self._write_user_tables()

    def _dovecot_conf(self) -> str:
        d = self._paths.dovecot_dir
        return render_template(
            "dovecot.conf",
            base_dir=self._paths.base_dir,
            state_dir=d / "state",
            log_path=self.dovecot_log,
            domain=self.domain,
            mail_uid=MAIL_UID,
            smtp_port=self.smtp_port,
            oauth2_passdb=self._oauth2_conf(),
            users_dir=d / "users",
            imap_port=self.imap_port,
            lmtp_port=self.lmtp_port,
            auth_port=self.auth_port,
            managesieve_port=self.managesieve_port,
        )

    def _oauth2_conf(self) -> str:
        """The optional oauth2 passdb (empty without an introspection URL): bearer tokens are
        checked by the test's introspection endpoint; the user's mail still comes from the
        passwd-file userdb."""
        if self.oauth2_introspection_url is None:
            return ""
        ext = self._paths.dovecot_dir / "oauth2.conf.ext"
        ext.write_text(
            render_template("oauth2.conf.ext", introspection_url=self.oauth2_introspection_url)
        )
        return render_template("dovecot-oauth2.conf", oauth2_ext=ext)

    def _postfix_main_cf(self) -> str:
        p = self._paths.postfix_dir
        return render_template(
            "main.cf",
            queue_dir=self._paths.queue_dir,
            data_dir=p / "data",
            maillog_file=self.postfix_log,
            postfix_dir=p,
            domain=self.domain,
            elsewhere=self.elsewhere,
            vmailbox=self._paths.postfix_conf / "vmailbox",
            lmtp_port=self.lmtp_port,
            auth_port=self.auth_port,
        )

    def _postfix_master_cf(self) -> str:
        # chroot = n everywhere: the private queue holds no copies of /etc files for a chroot.
        return render_template(
            "master.cf", smtp_port=self.smtp_port, submission_port=self.submission_port
        )

    def _write_user_tables(self) -> None:
        """Write Dovecot's passwd-files and rebuild Postfix's recipient map from `self._users`.

        Files are replaced atomically by rename. Dovecot reads a new user's passwd-file at the
        first lookup (a changed password is seen within a second); an idle Postfix smtpd
        restarts before its next connection once its open map file has been unlinked ("table
        ... has changed -- restarting"), so new users are known to the next SMTP session.
        """
        users = sorted(self._users.values(), key=lambda u: u.login)

        passwd_dir = self._paths.dovecot_dir / "users"
        passwd_dir.mkdir(exist_ok=True)
        passwd_dir.chmod(0o755)
        for u in users:
            line = render_template(
                "passwd",
                login=u.login,
                password=u.password,
                mail_uid=MAIL_UID,
                mail_gid=MAIL_GID,
                home=self._paths.mail_dir / u.login,
            )
            passwd = passwd_dir / u.login
            if passwd.exists() and passwd.read_text() == line:
                continue
            tmp = passwd_dir / f".{u.login}.new"
            tmp.write_text(line)
            tmp.chmod(0o644)
            if passwd.exists():
                # Dovecot spots a changed passwd-file by mtime (seconds) and size: a password
                # changed twice within a second must still get a new mtime.
                stamp = max(time.time(), passwd.stat().st_mtime + 1)
                os.utime(tmp, (stamp, stamp))
            os.replace(tmp, passwd)

        vmailbox = self._paths.postfix_conf / "vmailbox"
        tmp = vmailbox.with_name("vmailbox.new")
        tmp.write_text(
            "".join(
                render_template("vmailbox", address=address)
                for u in users
                for address in (u.address, f"{u.login}@{self.elsewhere}")
            )
        )
        self._run([_binary("postmap"), "-c", str(self._paths.postfix_conf), f"hash:{tmp}"])
        # Renamed over the old map, which smtpd processes hold open: they see it unlinked.
        os.replace(tmp.with_name(tmp.name + ".db"), vmailbox.with_name("vmailbox.db"))
        os.replace(tmp, vmailbox)

    def _run(self, argv: list[str], log: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run a helper command; output goes to `log` (a file, so daemonizing children never
        hold a pipe of ours open) or is captured for the error message."""
        if log is not None:
            with log.open("a") as out:
                out.write(f"$ {' '.join(argv)}\n")
                out.flush()
                proc = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=60,
                    check=False,
                )
            return proc
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
            )
        return proc

    # ----------------------------------------------------------------- users

    def add_user(self, local: str, password: str = DEFAULT_PASSWORD) -> User:
        """Create (or return the existing) mailbox `local`@`domain`; works while running.

        `local` must be lowercase letters, digits, ``.``, ``_`` or ``-`` (``+`` is the
        plus-addressing delimiter). Calling it again with another password changes the password.
        """
        if not _LOCAL_PART_RE.fullmatch(local):
            raise ValueError(f"invalid local part {local!r} (use [a-z0-9][a-z0-9._-]*)")
        if any(c in password for c in ":\n\r") or not password:
            raise ValueError("password must be non-empty without ':' or line breaks")
        with self._lock:
            existing = self._users.get(local)
            if existing is not None and existing.password == password:
                return existing
            user = User(login=local, address=f"{local}@{self.domain}", password=password)
            home = self._paths.mail_dir / local
            home.mkdir(parents=True, exist_ok=True)
            os.chown(home, MAIL_UID, MAIL_GID)
            home.chmod(0o700)
            self._users[local] = user
            if (self._paths.postfix_conf / "main.cf").exists():
                self._write_user_tables()
            return user

    @property
    def users(self) -> list[User]:
        with self._lock:
            return list(self._users.values())

    def set_sieve(self, user: User, script: str) -> None:
        """Install `script` as `user`'s active Sieve script (runs at LMTP delivery).

        The script is compiled with ``sievec`` first, so a syntax error raises ValueError here
        instead of being a line in the Dovecot log. Vacation may use ``:seconds`` and periods
        down to 0 (``sieve_vacation_min_period = 0``).
        """
        with self._lock:
            if user.login not in self._users:
                raise ValueError(f"unknown user {user.login!r}")
            if not (self._paths.dovecot_conf).exists():
                self._write_config()
            home = self._paths.mail_dir / user.login
            sieve_dir = home / "sieve"
            sieve_dir.mkdir(exist_ok=True)
            os.chown(sieve_dir, MAIL_UID, MAIL_GID)
            # A fresh file name each time: Pigeonhole decides whether its compiled binary is
            # stale by comparing mtimes, which can tie when a test replaces a script quickly.
            name = f"ooo-test-{next(self._sieve_counter)}"
            path = sieve_dir / f"{name}.sieve"
            path.write_text(script)
            check = subprocess.run(
                [
                    _binary("sievec"),
                    "-c",
                    str(self._paths.dovecot_conf),
                    str(path),
                    str(self.root / f"{name}.svbin"),
                ],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            (self.root / f"{name}.svbin").unlink(missing_ok=True)
            if check.returncode != 0:
                path.unlink()
                raise ValueError(f"Sieve script does not compile:\n{check.stdout}{check.stderr}")
            os.chown(path, MAIL_UID, MAIL_GID)
            link = home / ".dovecot.sieve"
            tmp_link = home / ".dovecot.sieve.new"
            tmp_link.unlink(missing_ok=True)
            tmp_link.symlink_to(f"sieve/{name}.sieve")
            os.lchown(tmp_link, MAIL_UID, MAIL_GID)
            os.replace(tmp_link, link)
            for old in sieve_dir.iterdir():
                if old.stem != name and old.suffix in (".sieve", ".svbin"):
                    old.unlink(missing_ok=True)

    # ----------------------------------------------------------------- start / stop

    def start(self) -> None:
        """Start whichever daemon is not running and wait until IMAP, LMTP, SMTP and submission
        answer. Idempotent. Raises RuntimeError with the tail of the daemon logs on failure."""
        with self._lock:
            if not self._started_once:
                self._first_start()
                return
            self.start_dovecot()
            self.start_postfix()

    def _first_start(self) -> None:
        _binary("dovecot")
        _binary("postfix")
        self._start_watchdog()
        # The ports were free a moment ago, but a concurrent stack (or anything else) may have
        # taken one since: on "Address already in use" choose new ones and try again.
        for attempt in range(3):
            self._write_config()
            try:
                self.start_dovecot()
                self.start_postfix()
            except RuntimeError:
                self.stop()
                if attempt == 2 or "Address already in use" not in self.log_text():
                    raise
                self._choose_ports()
                continue
            self._started_once = True
            return

    def _start_watchdog(self) -> None:
        # A child that stops the daemons once our end of its stdin closes, i.e. when this
        # process exits in any way, even SIGKILL or a pytest-timeout os._exit().
        if self._watchdog is not None:
            return
        with (self.root / "watchdog.log").open("ab") as log:
            self._watchdog = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--reap-when-stdin-closes",
                    str(self.root),
                ],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        """Stop both daemons and wait until all their processes are gone. Idempotent."""
        with self._lock:
            self.stop_postfix()
            self.stop_dovecot()

    def cleanup(self) -> None:
        """Stop, end the watchdog, and delete the root folder if this object created it."""
        with self._lock:
            self.stop()
            if self._watchdog is not None:
                assert self._watchdog.stdin is not None
                self._watchdog.stdin.close()
                self._watchdog.wait(timeout=_STOP_TIMEOUT)
                self._watchdog = None
            if self._owns_root:
                shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> MailStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    @property
    def dovecot_running(self) -> bool:
        return self._paths.dovecot_pid() is not None

    @property
    def postfix_running(self) -> bool:
        return self._paths.postfix_pid() is not None

    def _failure(self, what: str) -> RuntimeError:
        return RuntimeError(f"{what}\n{self.log_tail(40)}")

    def _wait_ready(
        self, checks: Iterable[tuple[str, int, bytes]], pid: Callable[[], int | None], name: str
    ) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        for label, port, prefix in checks:

            def answers_or_died(port: int = port, prefix: bytes = prefix) -> bool:
                return _banner(port, prefix) or pid() is None

            ok = _wait_until(answers_or_died, max(0.0, deadline - time.monotonic()))
            if pid() is None:
                raise self._failure(f"{name} exited during start-up")
            if not ok:
                raise self._failure(f"{name} {label} port {port} did not answer in time")

    def start_dovecot(self) -> None:
        """Start Dovecot (no-op if running) and wait until IMAP, LMTP, auth and ManageSieve
        answer."""
        with self._lock:
            if self.dovecot_running:
                return
            if not self._paths.dovecot_conf.exists():
                self._write_config()
            proc = self._run(
                [_binary("dovecot"), "-c", str(self._paths.dovecot_conf)],
                log=self._paths.dovecot_dir / "launch.log",
            )
            if proc.returncode != 0:
                raise self._failure(f"dovecot failed to start (exit {proc.returncode})")
            self._wait_ready(
                [
                    ("IMAP", self.imap_port, b"* OK"),
                    ("LMTP", self.lmtp_port, b"220 "),
                    ("auth", self.auth_port, b"VERSION"),
                    # The greeting starts with the capability list; its first line names it.
                    ("ManageSieve", self.managesieve_port, b'"IMPLEMENTATION"'),
                ],
                self._paths.dovecot_pid,
                "dovecot",
            )
            if self.postfix_running:
                # Mail deferred while Dovecot was down: deliver it now rather than at the next
                # queue run.
                self.flush_queue()

    def start_postfix(self) -> None:
        """Start Postfix (no-op if running) and wait until SMTP and submission answer."""
        with self._lock:
            if self.postfix_running:
                return
            if not (self._paths.postfix_conf / "main.cf").exists():
                self._write_config()
            if self._postfix_started_once:
                # The integrity checks (find over the queue, postsuper) already passed once;
                # postfix-script skips them when this file exists.
                (self._paths.queue_dir / "quick-start").touch()
            proc = self._run(
                [_binary("postfix"), "-c", str(self._paths.postfix_conf), "start"],
                log=self._paths.postfix_dir / "launch.log",
            )
            if proc.returncode != 0:
                raise self._failure(f"postfix failed to start (exit {proc.returncode})")
            self._postfix_started_once = True
            self._wait_ready(
                [
                    ("SMTP", self.smtp_port, b"220 "),
                    ("submission", self.submission_port, b"220 "),
                ],
                self._paths.postfix_pid,
                "postfix",
            )

    def _stop_daemon(self, pid: int | None, name: str) -> None:
        family = _kill_daemon(pid)
        if not _wait_until(lambda: not any(_alive(p) for p in family), _STOP_TIMEOUT):
            for p in family:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGKILL)
            if not _wait_until(lambda: not any(_alive(p) for p in family), _STOP_TIMEOUT):
                raise self._failure(f"{name} processes {sorted(family)} would not exit")

    def stop_dovecot(self) -> None:
        """Stop Dovecot and wait for all its processes to exit (open IMAP connections drop).
        Idempotent."""
        with self._lock:
            self._stop_daemon(self._paths.dovecot_pid(), "dovecot")

    def stop_postfix(self) -> None:
        """Stop Postfix and wait for all its processes to exit; queued mail stays queued.
        Idempotent."""
        with self._lock:
            self._stop_daemon(self._paths.postfix_pid(), "postfix")

    def flush_queue(self) -> None:
        """Ask Postfix to retry all deferred mail now (``postqueue -f``)."""
        self._run(
            [_binary("postqueue"), "-c", str(self._paths.postfix_conf), "-f"],
            log=self._paths.postfix_dir / "launch.log",
        )

    # ----------------------------------------------------------------- mail helpers

    def send(self, raw: bytes, mail_from: str, rcpts: list[str]) -> None:
        """Send `raw` through smtp_port (no AUTH). Raises smtplib errors if any recipient, the
        sender or the data is refused."""
        with smtplib.SMTP(self.host, self.smtp_port, timeout=30) as smtp:
            refused = smtp.sendmail(mail_from, rcpts, raw)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)

    def imap(self, user: User) -> imapclient.IMAPClient:
        """A new IMAP connection, logged in as `user`, no mailbox selected. Caller logs out."""
        import imapclient  # deferred: importing this module must not need it

        client = imapclient.IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=30)
        try:
            client.login(user.login, user.password)
        except Exception:
            client.shutdown()
            raise
        return client

    def fetch_all(self, user: User, folder: str = "INBOX") -> list[bytes]:
        """Raw RFC 822 bytes of every message in `folder`, in UID order (\\Seen is not set)."""
        client = self.imap(user)
        try:
            return self._fetch_all(client, folder)
        finally:
            client.logout()

    @staticmethod
    def _fetch_all(client: imapclient.IMAPClient, folder: str) -> list[bytes]:
        client.select_folder(folder, readonly=True)
        uids = sorted(client.search(["ALL"]))
        if not uids:
            return []
        # Explicit UIDs: imapclient raises on a "1:*" fetch (see MAILSERVERS.md).
        data = client.fetch(uids, [b"BODY.PEEK[]"])
        return [data[uid][b"BODY[]"] for uid in uids if uid in data]

    @staticmethod
    def _count(client: imapclient.IMAPClient, folder: str) -> int:
        import imapclient  # deferred: importing this module must not need it

        try:
            return int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])
        except imapclient.exceptions.IMAPClientAbortError:
            raise  # a dead connection (a subclass of the error below)
        except imapclient.exceptions.IMAPClientError:
            return 0  # no such folder (yet): Sieve may create it later

    def wait_for_mail(
        self, user: User, count: int, folder: str = "INBOX", timeout: float = 20.0
    ) -> list[bytes]:
        """Poll until `folder` holds at least `count` messages and return them all (UID order).

        On timeout raise AssertionError showing the headers of what did arrive and the logs.
        A missing folder counts as empty. Survives a Dovecot restart while waiting.
        """
        import imapclient  # deferred: importing this module must not need it

        deadline = time.monotonic() + timeout
        client: imapclient.IMAPClient | None = None
        found = 0
        try:
            while True:
                try:
                    if client is None:
                        client = self.imap(user)
                    found = self._count(client, folder)
                    if found >= count:
                        return self._fetch_all(client, folder)
                except (OSError, imapclient.exceptions.IMAPClientAbortError):
                    # Dovecot is restarting (outage tests): reconnect on the next round.
                    if client is not None:
                        with contextlib.suppress(OSError):
                            client.shutdown()
                    client = None
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
        finally:
            if client is not None:
                # Best effort: the connection may have died, and closing must not hide the result.
                with contextlib.suppress(OSError, imapclient.exceptions.IMAPClientError):
                    client.logout()
        try:
            have = self.fetch_all(user, folder) if found else []
        except (OSError, imapclient.exceptions.IMAPClientError) as e:
            have = [f"(could not fetch: {e!r})".encode()]
        heads = (m.split(b"\r\n\r\n", 1)[0].decode(errors="replace") for m in have)
        raise AssertionError(
            f"{user.address} {folder}: wanted {count} message(s) within {timeout} s, "
            f"found {found}:\n" + "\n---\n".join(heads) + f"\n{self.log_tail(30)}"
        )

    def queue_empty(self) -> bool:
        """True when Postfix holds no message in any queue: everything accepted so far has been
        delivered (or bounced). Deferred mail, e.g. while Dovecot is down, counts as queued."""
        for name in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _, _, files in os.walk(self._paths.queue_dir / name):
                if files:
                    return False
        return True

    # ----------------------------------------------------------------- logs

    def log_text(self) -> str:
        """Both daemons' logs plus their start-up output, for assertion messages."""
        parts = []
        for title, path in (
            ("dovecot log", self.dovecot_log),
            ("dovecot start-up output", self._paths.dovecot_dir / "launch.log"),
            ("postfix log", self.postfix_log),
            ("postfix start-up output", self._paths.postfix_dir / "launch.log"),
        ):
            try:
                text = path.read_text(errors="replace")
            except FileNotFoundError:
                continue
            parts.append(f"===== {title} ({path}) =====\n{text}")
        return "\n".join(parts)

    def log_tail(self, lines: int = 40) -> str:
        """The last `lines` lines of each log (log_text can be long)."""
        return "\n".join(
            f"===== {title} ({path}) =====\n{_tail(path, lines)}"
            for title, path in (
                ("dovecot log", self.dovecot_log),
                ("dovecot start-up output", self._paths.dovecot_dir / "launch.log"),
                ("postfix log", self.postfix_log),
                ("postfix start-up output", self._paths.postfix_dir / "launch.log"),
            )
        )

    def info(self) -> dict[str, object]:
        """Ports, paths and users as JSON-friendly data (what ``python -m tests.support.mailstack``
        prints)."""
        return {
            "host": self.host,
            "domain": self.domain,
            "elsewhere": self.elsewhere,
            "imap_port": self.imap_port,
            "smtp_port": self.smtp_port,
            "submission_port": self.submission_port,
            "lmtp_port": self.lmtp_port,
            "auth_port": self.auth_port,
            "managesieve_port": self.managesieve_port,
            "root": str(self.root),
            "dovecot_log": str(self.dovecot_log),
            "postfix_log": str(self.postfix_log),
            "users": [asdict(u) for u in self.users],
        }


def main(argv: list[str] | None = None) -> int:
    """Start a stack, print its details as one JSON line, run until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.mailstack", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME[:PASSWORD]",
        help="create this user (repeatable; default: alice and bob, password 'secret')",
    )
    parser.add_argument("--root", type=Path, help="use this folder instead of a new /tmp one")
    parser.add_argument("--keep", action="store_true", help="keep the root folder at exit")
    parser.add_argument("--reap-when-stdin-closes", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reap_when_stdin_closes:
        _reap_when_stdin_closes(args.reap_when_stdin_closes)
        return 0

    missing = missing_binaries()
    if missing:
        print(f"missing {', '.join(missing)}: run scripts/install-mailservers", file=sys.stderr)
        return 2
    stop = threading.Event()
    # SIGTERM too, so `kill PID` from a benchmark script cleans up like Ctrl-C does.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stack = MailStack(args.root)
    try:
        started = time.monotonic()
        stack.start()
        elapsed = time.monotonic() - started
        for spec in args.user or ["alice", "bob"]:
            name, _, password = spec.partition(":")
            stack.add_user(name, password or "secret")
        info = stack.info()
        info["startup_seconds"] = round(elapsed, 3)
        print(json.dumps(info), flush=True)
        print("mail stack running; Ctrl-C to stop", file=sys.stderr, flush=True)
        while not stop.wait(3600):
            pass
    finally:
        if args.keep:
            stack.stop()
            print(f"stopped; kept {stack.root}", file=sys.stderr)
        else:
            stack.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
