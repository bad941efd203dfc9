"""The project's exception tree.

    OooError                      anything ooo raises on purpose
    ├── UserError                 the user can fix it: printed without a traceback
    │   └── ConfigError           a bad config file (file, line, key, expected)
    ├── mailbox.base.MailboxError
    │   ├── MailboxUnavailable    server gone: retry with backoff
    │   ├── MailboxAuthError      credentials refused
    │   └── CursorInvalid         UIDVALIDITY changed: re-baseline
    ├── transport.base.TransportError
    │   ├── TransportUnavailable  SMTP down or 4xx: keep queued, retry
    │   │   └── TransportAuthError  credentials refused (kept queued until the owner acts)
    │   └── TransportRejected     5xx: the reply can never be sent
    ├── networks.base.NetworkError
    │   ├── NetworkUnavailable    down, 5xx or rate-limited (with retry-after): back off
    │   └── NetworkAuthError      the token or password was refused
    └── handoff.base.HandoffError
        ├── HandoffUnavailable    ManageSieve/EWS unreachable: retry (the lease bounds it)
        ├── HandoffAuthError      credentials refused
        └── HandoffRefused        also a UserError: the owner's own responder is on

Third-party errors are caught where the library is called and re-raised as one
of these, ``from exc``. Anything else escaping to the CLI is a bug.
"""

from __future__ import annotations


class OooError(Exception):
    """Base of every error ooo raises on purpose."""


class UserError(OooError):
    """Something the user can fix. ``problems`` are printed one per line, then ``advice``."""

    def __init__(self, message: str, problems: list[str] | None = None, advice: str | None = None):
        super().__init__(message)
        self.message = message
        self.problems = problems or []
        self.advice = advice

    def render(self) -> str:
        lines = [f"error: {self.message}"]
        lines += [f"  - {p}" for p in self.problems]
        if self.advice:
            lines.append(f"  hint: {self.advice}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()

    def oneline(self) -> str:
        """The problem as one log line: the problems (file, line, key) if any, else the
        message."""
        return "; ".join(self.problems) if self.problems else self.message


class ConfigError(UserError):
    """The config file is missing, unreadable or invalid."""
