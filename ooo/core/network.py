"""The owner's network: the places, listed as ``[[network]]`` in the config, where people who
know the owner's work can answer a sender's question while the owner is away.

Each entry is validated and normalised here (a handle becomes a profile link, a pasted LinkedIn
URL becomes its slug), and decides for itself who may see it: an internal channel (Slack,
Teams, Matrix, Discourse) is shown only to internal senders unless the owner says otherwise.
For the public kinds with a compose page, an entry also builds an "ask my network" link with
the question prefilled. Pure: no I/O, no clock.

Everything that ends up in a link is checked: only http(s) URLs, no whitespace or control
characters, no credentials in the URL, and handles only of the shape each service allows.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
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
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_MASTODON_USER = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9_])?")
_X_USER = re.compile(r"[A-Za-z0-9_]{1,15}")
_GITHUB_OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")
_GITHUB_REPO = re.compile(r"[A-Za-z0-9._-]{1,100}")
_LINKEDIN_SLUG = re.compile(r"[A-Za-z0-9-]{3,100}")
_LINKEDIN_HOST = re.compile(r"(?:[a-z]{2,3}\.)?linkedin\.com")
_MATRIX_ROOM = re.compile(r"#([A-Za-z0-9._=/+-]+):(.+)")
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
        if kind == "matrix" and (self.handle is None) == (self.url is None):
            raise ValueError(
                'matrix needs either handle = "#room:example.org" or url = "https://..." (not both)'
            )
        if kind not in HANDLE_KINDS and kind != "matrix" and self.url is None:
            raise ValueError(f'{kind} needs url = "https://..."')
        if self.label is None and kind in INTERNAL_KINDS | {"custom"} and self.handle is None:
            raise ValueError(f'{kind} needs a label saying what it is, like "#platform-help"')
        return self

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
        assert self.url is not None  # guaranteed by _complete
        return self.url

    @property
    def display(self) -> str:
        """The label, or a default such as "@ana@hachyderm.io on Mastodon"."""
        if self.label is not None:
            return self.label
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
