"""The owner's network: the places, listed as ``[[network]]`` in the config, where people who
know the owner's work can answer a sender's question while the owner is away.

Each entry is validated and normalised here (a handle becomes a profile link, a pasted LinkedIn
URL becomes its slug), and decides for itself who may see it: an internal channel (Slack,
Teams, Matrix, Discourse) is shown only to internal senders unless the owner says otherwise.
For the public kinds with a compose page, an entry also builds an "ask my network" link with
the question prefilled. Pure: no I/O, no clock.

Everything that ends up in a link is checked: only http(s) URLs, no whitespace or control
characters, no credentials in the URL, and handles only of the shape each service allows.

Mastodon, Bluesky and Matrix entries can also be *watched* (``watch = true``, see
``ooo.networks``): the keys of that contract are the fields after ``share`` below. A watched
entry needs exactly one source of credentials (``token_command``, ``password_command`` or
``keyring``), else the error names the entry; API addresses are https, or plain http only to a
loopback host; a Matrix ``room`` may be ``!id:server``, the server-less ``!id`` of newer rooms
or ``#alias:server``, and links to matrix.to when the entry has no ``url``; ``ask`` (Matrix
only: ooo never posts publicly) is the opt-in to post inquiries to the room.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

Kind = Literal[
    "mastodon",
    "bluesky",
    "linkedin",
    "x",
    "github",
    "website",
    "slack",
    "teams",
    "matrix",
    "discourse",
    "custom",
]
Audience = Literal["internal", "external", "vip"]
"""A sender's audience, as routing decided it."""
EntryAudience = Literal["all", "internal", "external"]
"""Who may see an entry."""

INTERNAL_KINDS: frozenset[str] = frozenset({"slack", "teams", "matrix", "discourse"})
HANDLE_KINDS: frozenset[str] = frozenset({"mastodon", "bluesky", "linkedin", "x", "github"})
WATCH_KINDS: frozenset[str] = frozenset({"mastodon", "bluesky", "matrix"})
"""The kinds ooo can watch for answers (``watch = true``)."""
POLL_INTERVAL_DEFAULT = timedelta(minutes=2)
POLL_INTERVAL_MIN = timedelta(seconds=5)
SHARE_TEXT_LIMIT = 280
"""X's limit, the smallest of the services with a compose page (Bluesky 300, Mastodon 500)."""
LABEL_LIMIT = 200

_NAMES = {
    "mastodon": "Mastodon",
    "bluesky": "Bluesky",
    "linkedin": "LinkedIn",
    "x": "X",
    "github": "GitHub",
    "matrix": "Matrix",
}
_LINK_KEYS = frozenset({"kind", "handle", "url", "label", "audience", "share"})
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_MASTODON_USER = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9_])?")
_X_USER = re.compile(r"[A-Za-z0-9_]{1,15}")
_GITHUB_OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")
_GITHUB_REPO = re.compile(r"[A-Za-z0-9._-]{1,100}")
_LINKEDIN_SLUG = re.compile(r"[A-Za-z0-9-]{3,100}")
_LINKEDIN_HOST = re.compile(r"(?:[a-z]{2,3}\.)?linkedin\.com")
_MATRIX_ROOM = re.compile(r"#([A-Za-z0-9._=/+-]+):(.+)")
# Room ids: "!opaque:server" (room versions up to 11) or "!opaque" (12 and later); aliases
# "#alias:server"; user ids "@local:server". The server name is a host name, an IPv4 address
# or a bracketed IPv6 address, with an optional port (the spec's grammar).
_MATRIX_ID = re.compile(r"([!#@])([A-Za-z0-9._=/+~-]{1,255})(?::(.+))?")
_SERVER_NAME = re.compile(
    r"(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253}[A-Za-z0-9])?)(?::(\d{1,5}))?"
)
_DURATION = re.compile(r"(\d+)\s*(w|d|h|m|s)", re.IGNORECASE)
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_TAG = re.compile(r"#?([A-Za-z0-9_]{1,50})")
# RFC 3986 forbids these in a URL; in an HTML attribute or a Markdown link they break out.
_URL_FORBIDDEN = frozenset('<>"\\^`{|}')
# Bluesky's handle spec reserves these top-level domains.
_BLUESKY_RESERVED_TLDS = frozenset(
    {"alt", "arpa", "example", "internal", "invalid", "local", "localhost", "onion"}
)
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _domain(text: str) -> str | None:
    """``text`` as a lower-case DNS name with at least two labels and a letter-led top-level
    label (so no IP addresses), or None."""
    if not text.isascii() or len(text) > 253:
        return None
    labels = text.lower().split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return None
    if not labels[-1][0].isalpha():
        return None
    return ".".join(labels)


def _mastodon(handle: str) -> str:
    user, sep, instance = handle.removeprefix("@").partition("@")
    domain = _domain(instance)
    if not sep or not _MASTODON_USER.fullmatch(user) or domain is None:
        raise ValueError(f"mastodon handle must look like @user@instance.social, got {handle!r}")
    return f"@{user}@{domain}"


def _bluesky(handle: str) -> str:
    domain = _domain(handle.removeprefix("@"))
    if domain is None or domain.rsplit(".", 1)[-1] in _BLUESKY_RESERVED_TLDS:
        raise ValueError(
            "bluesky handle must be a domain-like name such as ana.bsky.social or ana.dev, "
            f"got {handle!r}"
        )
    return f"@{domain}"


def _linkedin(handle: str) -> str:
    slug = handle
    if "linkedin.com" in handle.lower():
        url = handle if "://" in handle else f"https://{handle}"
        parts = urlsplit(url)
        path = parts.path.rstrip("/").split("/")
        host_ok = _LINKEDIN_HOST.fullmatch((parts.hostname or "").lower())
        scheme_ok = parts.scheme in ("http", "https")
        slug = path[2] if scheme_ok and host_ok and len(path) == 3 and path[1] == "in" else ""
    if not _LINKEDIN_SLUG.fullmatch(slug):
        raise ValueError(
            "linkedin handle must be your profile's /in/ name (3-100 letters, digits or hyphens, "
            f"like ana-example) or its URL https://www.linkedin.com/in/ana-example, got {handle!r}"
        )
    # LinkedIn treats the public profile name case-insensitively and shows it in lower case.
    return slug.lower()


def _x(handle: str) -> str:
    user = handle.removeprefix("@")
    if not _X_USER.fullmatch(user):
        raise ValueError(
            f"x handle must look like @ana (1-15 letters, digits or underscores), got {handle!r}"
        )
    return f"@{user}"


def _github(handle: str) -> str:
    owner, sep, repo = handle.removeprefix("@").partition("/")
    if not _GITHUB_OWNER.fullmatch(owner) or (
        sep and (not _GITHUB_REPO.fullmatch(repo) or repo in (".", ".."))
    ):
        raise ValueError(
            "github handle must be a user or organisation (letters, digits and single inner "
            "hyphens, at most 39) or owner/repo for the repository's discussions, "
            f"got {handle!r}"
        )
    return f"{owner}/{repo}" if sep else owner


def _matrix(handle: str) -> str:
    match = _MATRIX_ROOM.fullmatch(handle)
    if match:
        room, server = match.groups()
        host, _, port = server.partition(":")
        domain = _domain(host)
        if domain is not None and (not port or (port.isdigit() and 0 < int(port) < 65536)):
            return f"#{room}:{domain}" + (f":{port}" if port else "")
    raise ValueError(f"matrix handle must be a room alias like #room:example.org, got {handle!r}")


def matrix_server_name(text: str) -> str | None:
    """``text`` as a Matrix server name (host name, IPv4 or ``[IPv6]``, optional port) in
    lower case, or None."""
    match = _SERVER_NAME.fullmatch(text)
    if match is None or ".." in text or (match[2] and not 0 < int(match[2]) < 65536):
        return None
    if match[1].startswith("["):
        try:
            ipaddress.IPv6Address(match[1][1:-1])
        except ValueError:
            return None
    return text.lower()


def matrix_id(text: str, sigils: str = "!#") -> str:
    """A room id (``!id:server``, or the server-less ``!id`` of room version 12 and later), a
    room alias (``#room:server``) or, with ``sigils="@"``, a user id, with its server name in
    lower case; ValueError otherwise."""
    match = _MATRIX_ID.fullmatch(text)
    sigil, local, server = match.groups() if match else ("", "", None)
    name = matrix_server_name(server) if server is not None else None
    if sigil in sigils and (name is not None or (sigil == "!" and server is None)):
        return f"{sigil}{local}" + (f":{name}" if name else "")
    if sigils == "@":
        raise ValueError(f"matrix user must be a full user id like @bob:example.org, got {text!r}")
    raise ValueError(
        "matrix room must be a room id like !abc123:example.org (or !abc123 for newer rooms) "
        f"or an alias like #team-help:example.org, got {text!r}"
    )


def _duration(value: object) -> timedelta:
    """The config's duration syntax ("2m", "90s", "1h 30m", seconds): as ooo.config's."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    text = value.strip().replace(" ", "") if isinstance(value, str) else ""
    parts = _DURATION.findall(text)
    if parts and "".join(n + u for n, u in parts).lower() == text.lower():
        return timedelta(seconds=sum(int(n) * _UNITS[u.lower()] for n, u in parts))
    raise ValueError('expected a duration such as "2m", "90s" or "1h"')


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 or "localhost": the only hosts plain http may go to."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _service_url(url: str, key: str) -> str:
    """An API address: https, or http only to a loopback host (a secret goes there)."""
    try:
        checked = safe_url(url.strip())
    except ValueError as exc:
        raise ValueError(f"{key} {str(exc).removeprefix('url ')}") from None
    parts = urlsplit(checked)
    if parts.scheme == "http" and not is_loopback_host(parts.hostname or ""):
        raise ValueError(
            f"{key} must be https:// (the sign-in would cross the network unencrypted); plain "
            f"http:// is only allowed to a loopback host (127.0.0.1, ::1, localhost), got {url!r}"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"{key} must be a plain server address, got {url!r}")
    return checked.rstrip("/")


_EXAMPLES = {
    "mastodon": 'handle = "@ana@hachyderm.io"',
    "bluesky": 'handle = "ana.bsky.social"',
    "linkedin": 'handle = "ana-example"',
    "x": 'handle = "@ana"',
    "github": 'handle = "owner/repo"',
}


_HANDLE_PARSERS = {
    "mastodon": _mastodon,
    "bluesky": _bluesky,
    "linkedin": _linkedin,
    "x": _x,
    "github": _github,
    "matrix": _matrix,
}


def safe_url(url: str, *, kind: str | None = None) -> str:
    """``url`` if it is an absolute http(s) URL that is safe to put in a link, else ValueError.

    The scheme and host are lower-cased; nothing else is changed.
    """
    name = f"{kind} url" if kind else "url"
    if any(c.isspace() or unicodedata.category(c)[0] == "C" or c in _URL_FORBIDDEN for c in url):
        raise ValueError(
            f"{name} must be a plain https:// link without spaces, control characters or "
            f'any of < > " \\ ^ ` {{ | }}, got {url!r}'
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises on a port that is not a number in range
    except ValueError:
        raise ValueError(f"{name} is not a valid URL, got {url!r}") from None
    if parts.scheme not in ("https", "http"):
        raise ValueError(f"{name} must start with https:// (or http://), got {url!r}")
    if not parts.hostname:
        raise ValueError(f"{name} must name a host, like https://example.com/, got {url!r}")
    if parts.username is not None or parts.password is not None:
        # https://trusted.example@evil.example/ reads as trusted and goes elsewhere.
        raise ValueError(f"{name} must not contain a user name or password, got {url!r}")
    return urlunsplit(parts._replace(netloc=parts.netloc.lower()))


def _unsafe_text(text: str) -> bool:
    """Control characters, line breaks, and bidi overrides (which make a text read differently
    from what it says)."""
    return any(unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in _BIDI_CONTROLS for c in text)


def _one_line(text: str) -> str:
    """``text`` on one line: whitespace runs become one space, and control characters and bidi
    overrides are dropped."""
    kept = "".join(c if c.isspace() or not _unsafe_text(c) else "" for c in text)
    return " ".join(kept.split())


class NetworkEntry(BaseModel):
    """One ``[[network]]`` entry: where the owner's network can be asked, and who sees it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Kind
    handle: str | None = None
    url: str | None = None
    label: str | None = None
    audience: EntryAudience = "all"
    """Resolved per kind when not given: "internal" for internal channels, else "all"."""
    share: bool = True
    """Offer an "ask my network" link, for the kinds that have a compose page."""
    watch: bool = False
    """Watch this place for answers (Mastodon, Bluesky, Matrix); false: links only."""
    token_command: str | None = None
    """Prints an access token (Mastodon: read scopes suffice; Matrix)."""
    password_command: str | None = None
    """Prints a password (Bluesky: an app password; Matrix: the account's)."""
    keyring: bool | str = False
    """The secret is in the OS keyring: true (entry :attr:`keyring_entry`) or an entry's name;
    a token for Mastodon, a password for Bluesky and Matrix."""
    api_url: str | None = None
    """Default: the Mastodon handle's instance; https://bsky.social for Bluesky."""
    poll_interval: timedelta = POLL_INTERVAL_DEFAULT
    """Default 2 minutes, at least 5 seconds."""
    room: str | None = None
    homeserver: str | None = None
    user: str | None = None
    """Matrix: the room watched, the homeserver's address, the account ooo signs in as."""
    ask: tuple[Audience, ...] = ()
    """Matrix: post each inquiry from these audiences to the room (opt-in)."""
    share_sender: bool = False
    """Matrix: put the asker's address in the notice, as a mailto link (never otherwise)."""

    @model_validator(mode="before")
    @classmethod
    def _default_audience(cls, data: Any) -> Any:
        # Done before field validation so the model stays frozen and .audience is never None.
        if isinstance(data, dict) and data.get("audience") is None:
            kind = data.get("kind")
            internal = isinstance(kind, str) and kind in INTERNAL_KINDS
            return {**data, "audience": "internal" if internal else "all"}
        return data

    @field_validator("handle")
    @classmethod
    def _valid_handle(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if value is None or kind is None:
            return value  # an unknown kind is reported on its own
        parser = _HANDLE_PARSERS.get(kind)
        if parser is None:
            raise ValueError(f"{kind} takes a url (and a label), not a handle")
        return parser(value.strip())

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if value is None or kind is None:
            return value
        if kind in HANDLE_KINDS:
            raise ValueError(f"{kind} takes a handle, not a url")
        return safe_url(value.strip(), kind=kind)

    @field_validator("poll_interval", mode="before")
    @classmethod
    def _valid_interval(cls, value: object) -> timedelta:
        interval = _duration(value)
        if interval < POLL_INTERVAL_MIN:
            raise ValueError(
                f"poll_interval must be at least {POLL_INTERVAL_MIN.total_seconds():.0f} s "
                f"(the services' rate limits), got {value!r}"
            )
        return interval

    @field_validator("api_url", "homeserver")
    @classmethod
    def _valid_service(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _service_url(value, str(info.field_name))

    @field_validator("room")
    @classmethod
    def _valid_room(cls, value: str | None) -> str | None:
        return None if value is None else matrix_id(value.strip())

    @field_validator("user")
    @classmethod
    def _valid_user(cls, value: str | None) -> str | None:
        return None if value is None else matrix_id(value.strip(), "@")

    @field_validator("token_command", "password_command", "keyring")
    @classmethod
    def _one_line(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and (not value.strip() or _unsafe_text(value)):
            what = "a command" if info.field_name != "keyring" else "true or an entry's name"
            raise ValueError(f"{info.field_name} must be one line with {what}, got {value!r}")
        return value.strip() if info.field_name == "keyring" and isinstance(value, str) else value

    @field_validator("label")
    @classmethod
    def _valid_label(cls, value: str | None) -> str | None:
        if value is None:
            return value
        text = value.strip()
        if not text or len(text) > LABEL_LIMIT or _unsafe_text(text):
            raise ValueError(
                f"label must be one line of 1-{LABEL_LIMIT} characters without control "
                f"characters, got {value!r}"
            )
        return text

    @model_validator(mode="after")
    def _complete(self) -> NetworkEntry:
        kind = self.kind
        if kind in HANDLE_KINDS and self.handle is None:
            raise ValueError(f"{kind} needs a handle, for example {_EXAMPLES[kind]}")
        if kind == "matrix" and (
            (self.handle is not None and self.url is not None)
            or (self.handle is None and self.url is None and self.room is None)
        ):
            raise ValueError(
                'matrix needs either handle = "#room:example.org" or url = "https://..." (not '
                'both), or a room = "!id:example.org" to link to'
            )
        if kind not in HANDLE_KINDS and kind != "matrix" and self.url is None:
            raise ValueError(f'{kind} needs url = "https://..."')
        named = self.handle is not None or (kind == "matrix" and (self.room or "")[:1] == "#")
        if self.label is None and kind in INTERNAL_KINDS | {"custom"} and not named:
            raise ValueError(f'{kind} needs a label saying what it is, like "#platform-help"')
        self._check_watch()
        return self

    def _check_watch(self) -> None:
        """The watch contract: which keys each kind takes, and credentials when watched."""
        kind, fields = self.kind, type(self).model_fields
        # Keys not at their default (a dumped and re-validated entry carries every key).
        given = [k for k in _WATCH_KEYS if getattr(self, k) != fields[k].default]
        if kind not in WATCH_KINDS:
            if given:
                raise ValueError(
                    f"{kind} entries cannot be watched (only mastodon, bluesky and matrix): "
                    f"remove {', '.join(given)}"
                )
            return
        for key in given:
            if kind not in _KEY_KINDS.get(key, WATCH_KINDS):
                instead = " (matrix takes homeserver)" if key == "api_url" else ""
                raise ValueError(f"{kind} does not take {key}{instead}")
        wrong, right = _SIGN_IN.get(kind, ("", ""))
        if wrong and getattr(self, wrong) is not None:
            raise ValueError(f"{kind} signs in with {right} (or keyring = true), not {wrong}")
        sources = [k for k in ("token_command", "password_command", "keyring") if getattr(self, k)]
        if len(sources) > 1:
            raise ValueError(f"set only one of {', '.join(sources)} on the {self.identity} entry")
        if self.ask and not self.watch:
            raise ValueError("ask needs watch = true: ooo must watch the room it asks in")
        if self.share_sender and not self.ask:
            raise ValueError("share_sender only applies with ask (the room notice)")
        if self.watch and not sources:
            example = "password_command" if kind == "bluesky" else "token_command"
            raise ValueError(
                f'the watched {self.identity} entry has no credentials: set {example} = "...", '
                "or keyring = true and store the secret with `ooo secret set` (entry "
                f"{self._keyring_default()!r})"
            )
        needs = {"room": self.watch_room, "homeserver": self.homeserver, "user": self.user}
        if self.watch and kind == "matrix" and (missing := [k for k, v in needs.items() if not v]):
            raise ValueError(
                f"the watched {self.identity} entry needs {', '.join(missing)} (room = "
                '"!id:example.org" or "#alias:example.org", homeserver = '
                '"https://matrix.example.org", user = "@you:example.org")'
            )

    # -- watching ---------------------------------------------------------------------------

    @property
    def identity(self) -> str:
        """The entry in a message: "mastodon @bob@hachyderm.io", "matrix !abc:example.org"."""
        who = self.handle or self.room or self.user or self.label or self.url or ""
        return f"{self.kind} {who}".strip()

    @property
    def watch_name(self) -> str:
        """The stable name the store keeps this watcher's cursor and state under:
        ``mastodon:@bob@hachyderm.io``, ``bluesky:@bob.bsky.social``, ``matrix:!abc:server``."""
        if self.kind == "matrix":
            return f"matrix:{self.watch_room or self.url or ''}"
        return f"{self.kind}:{self.handle or ''}"

    @property
    def watch_room(self) -> str | None:
        """Matrix: the room to watch: ``room``, else the alias in ``handle``."""
        return self.room or (self.handle if self.kind == "matrix" else None)

    @property
    def keyring_entry(self) -> str | None:
        """The keyring entry (service "ooo") with this entry's secret, when ``keyring`` is set:
        its value when a name, else ``network.<kind>:<handle, or user for Matrix>``."""
        if not self.keyring:
            return None
        return self.keyring if isinstance(self.keyring, str) else self._keyring_default()

    def _keyring_default(self) -> str:
        who = self.user if self.kind == "matrix" else self.handle
        return f"network.{self.kind}:{who or self.watch_room or ''}"

    @property
    def signs_in_with(self) -> Literal["token", "password"]:
        """What the secret is: an access token (Mastodon; Matrix with token_command) or a
        password (Bluesky's app password; Matrix with password_command or the keyring)."""
        if self.kind == "mastodon" or self.token_command is not None:
            return "token"
        return "password"

    @property
    def service_url(self) -> str | None:
        """The API the watcher talks to: ``api_url`` or the default (Mastodon: the handle's
        instance; Bluesky: https://bsky.social), or the Matrix homeserver."""
        match self.kind:
            case "mastodon":
                return self.api_url or f"https://{(self.handle or '').rsplit('@', 1)[-1]}"
            case "bluesky":
                return self.api_url or "https://bsky.social"
            case "matrix":
                return self.homeserver
        return None

    @property
    def public(self) -> bool:
        """Not an internal channel kind (Slack, Teams, Matrix, Discourse)."""
        return self.kind not in INTERNAL_KINDS

    @property
    def mention(self) -> str | None:
        """How the owner is mentioned on this service (``@ana@hachyderm.io``), if it has one."""
        if self.kind in ("mastodon", "bluesky", "x"):
            return self.handle
        return None

    @property
    def profile_url(self) -> str:
        """The link the reply shows: a profile, discussions page, room or channel."""
        handle = self.handle or ""
        match self.kind:
            case "mastodon":
                user, instance = handle[1:].split("@")
                return f"https://{instance}/@{user}"
            case "bluesky":
                return f"https://bsky.app/profile/{handle[1:]}"
            case "linkedin":
                return f"https://www.linkedin.com/in/{handle}"
            case "x":
                return f"https://x.com/{handle[1:]}"
            case "github":
                suffix = "/discussions" if "/" in handle else ""
                return f"https://github.com/{handle}{suffix}"
            case "matrix" if self.handle is not None:
                return f"https://matrix.to/#/{quote(handle, safe='#:')}"
            case "matrix" if self.url is None and self.room is not None:
                return matrix_to(self.room, via=self._via())
        assert self.url is not None  # guaranteed by _complete
        return self.url

    def _via(self) -> str | None:
        """A server that knows the room, for a matrix.to link to a room id."""
        ident = next((i for i in (self.room, self.user) if i and ":" in i), None)
        return ident.split(":", 1)[1] if ident else (urlsplit(self.homeserver or "").netloc or None)

    @property
    def display(self) -> str:
        """The label, or a default such as "@ana@hachyderm.io on Mastodon"."""
        if self.label is not None:
            return self.label
        if self.kind == "matrix" and self.handle is None and (self.room or "").startswith("#"):
            return f"{self.room} on Matrix"
        handle = self.handle or ""
        if self.kind == "github":
            return f"{handle} discussions on GitHub" if "/" in handle else f"@{handle} on GitHub"
        if self.handle is not None:
            return f"{handle} on {_NAMES[self.kind]}"
        # website (the only url kind without a required label): its host names it
        return urlsplit(self.url or "").hostname or ""

    def visible_to(self, audience: Audience, *, internal_sender: bool) -> bool:
        """May a sender of this ``audience`` see this entry?

        A sender counts as internal only when ``internal_sender`` is true and routing did not
        place it in the external audience; a VIP is internal or external by ``internal_sender``.
        When the two disagree the sender is treated as external, so that an internal channel
        never leaks. "internal" entries go to internal senders, "external" ones to everyone
        else, "all" to everybody.
        """
        if audience not in ("internal", "external", "vip"):
            raise ValueError(f"audience must be internal, external or vip, got {audience!r}")
        internal = internal_sender and audience != "external"
        if self.audience == "all":
            return True
        return internal == (self.audience == "internal")

    def share_url(self, text: str) -> str | None:
        """A link that opens a new post with ``text`` prefilled, or None if this entry has no
        compose page (or the owner set ``share = false``)."""
        if not self.share:
            return None
        encoded = quote(text, safe="")
        match self.kind:
            case "mastodon":
                instance = (self.handle or "").rsplit("@", 1)[-1]
                return f"https://{instance}/share?text={encoded}"
            case "bluesky":
                return f"https://bsky.app/intent/compose?text={encoded}"
            case "x":
                return f"https://x.com/intent/post?text={encoded}"
        return None


# The watch contract's keys: every field after the link ones.
_WATCH_KEYS = [k for k in NetworkEntry.model_fields if k not in _LINK_KEYS]
_SIGN_IN = {
    "mastodon": ("password_command", "an access token: use token_command"),
    "bluesky": ("token_command", "an app password: use password_command"),
}
_KEY_KINDS: dict[str, frozenset[str]] = {
    "api_url": frozenset({"mastodon", "bluesky"}),
    **dict.fromkeys(("room", "homeserver", "user", "ask", "share_sender"), frozenset({"matrix"})),
}


def matrix_to(room: str, event: str | None = None, *, via: str | None = None) -> str:
    """The matrix.to link of a room (id or alias), or of one event in it."""
    link = "https://matrix.to/#/" + quote(room, safe="!#:[]")
    if event is not None:
        link += "/" + quote(event, safe="$:")
    if via and room.startswith("!"):
        link += "?via=" + quote(via, safe=":[]")
    return link


def _clip(text: str, room: int) -> str:
    """``text`` cut to at most ``room`` characters, at a word boundary when one is near, with
    an ellipsis when anything was cut."""
    if len(text) <= room:
        return text
    if room < 1:
        return ""
    cut = text[: room - 1]
    space = cut.rfind(" ")
    if space > (room - 1) // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


def share_text(owner_mention: str, tag: str, subject: str | None) -> str:
    """The prefilled "ask my network" post: who is away, the inquiry's tag (as a hashtag, so
    answers can be found and matched), and the subject only when the caller passes one.

    At most :data:`SHARE_TEXT_LIMIT` characters: the subject is shortened first, then the
    mention; the tag is never cut.
    """
    match = _TAG.fullmatch(tag.strip())
    if not match:
        raise ValueError(
            f"tag must be 1-50 letters, digits or underscores, like OOO7K3Q, got {tag!r}"
        )
    hashtag = f"#{match.group(1)}"
    mention = _one_line(owner_mention)
    if not mention:
        raise ValueError("owner_mention must not be empty")
    fixed = len("Question for my network while  is away ()") + len(hashtag)
    mention = _clip(mention, SHARE_TEXT_LIMIT - fixed)
    text = f"Question for my network while {mention} is away ({hashtag})"
    about = _one_line(subject or "")
    room = SHARE_TEXT_LIMIT - len(text) - len(": ")
    # A subject cut to a few characters says nothing: leave it out instead.
    if about and (len(about) <= room or room >= 20):
        text += f": {_clip(about, room)}"
    return text


def visible_entries(
    entries: Sequence[NetworkEntry],
    *,
    internal_sender: bool,
    audience: Audience | None = None,
) -> list[NetworkEntry]:
    """The entries a sender may see, in the owner's order. Without ``audience`` the sender's
    audience is "internal" or "external" by ``internal_sender``."""
    sender: Audience = audience or ("internal" if internal_sender else "external")
    return [e for e in entries if e.visible_to(sender, internal_sender=internal_sender)]
