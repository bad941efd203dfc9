"""The configuration file: one hand-edited TOML file, validated with pydantic.

Every problem is reported as a :class:`ConfigError` naming the file, the line (where it can be
found), the key path (``away.end``), what was given and what is expected. Unknown keys are
errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ooo.core.network import NetworkEntry
from ooo.core.parse import is_replyable, normalize_address
from ooo.errors import ConfigError

ENV_VAR = "OOO_CONFIG"

_DURATION = re.compile(r"(\d+)\s*(w|d|h|m|s)", re.IGNORECASE)
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(value: object) -> timedelta:
    """``"7d"``, ``"36h"``, ``"1w 2d"``, ``"90m"`` or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        parts = _DURATION.findall(text)
        if parts and "".join(n + u for n, u in parts).lower() == text.lower():
            return timedelta(seconds=sum(int(n) * _UNITS[u.lower()] for n, u in parts))
    raise ValueError('expected a duration such as "7d", "36h", "1w 2d" or "90m"')


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _address(value: str) -> str:
    addr = normalize_address(value)
    if not is_replyable(addr):
        raise ValueError("expected an email address like name@example.com")
    return addr


Address = Annotated[str, BeforeValidator(lambda v: _address(v) if isinstance(v, str) else v)]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OwnerConfig(_Model):
    name: str = Field(min_length=1)
    addresses: list[Address] = Field(min_length=1)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as 'Europe/Berlin' or 'UTC'"
            ) from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class AwayConfig(_Model):
    start: datetime
    end: datetime
    reply_interval: Duration = timedelta(days=7)
    subject_prefix: str = "Auto: "

    @field_validator("reply_interval")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("expected a positive duration")
        return value


class PasswordSource(_Model):
    password_command: str | None = None
    """A shell command that prints the password (first line is used)."""
    keyring_entry: str | None = None
    """The keyring user name under service "ooo"; defaults to "<section>:<username>@<host>"."""
    token_command: str | None = None
    """With auth = "xoauth2" / "oauthbearer": a shell command that prints a fresh OAuth2
    access token (first line), run at each login, e.g. "oama access me@example.com"."""


class MailboxConfig(PasswordSource):
    backend: Literal["imap", "exchange"] = "imap"
    auth: Literal["password", "xoauth2", "oauthbearer", "ntlm", "basic", "oauth2"] = "password"
    """How to sign in: a password (keyring or password_command), or an OAuth2 access token
    from token_command (Microsoft 365 and Gmail need "xoauth2" or "oauthbearer"). Exchange:
    "ntlm" (the default for "password"), "basic", or "oauth2" (a bearer token)."""
    host: str
    """The IMAP server; for backend = "exchange", filled in from server or service_endpoint."""
    server: str | None = None
    """Exchange: the server's host name; EWS is then https://SERVER/EWS/Exchange.asmx."""
    service_endpoint: str | None = None
    """Exchange: the full EWS URL, when it is not https://SERVER/EWS/Exchange.asmx."""
    primary_smtp_address: Address | None = None
    """Exchange: the mailbox's address, when the login (username, e.g. DOMAIN\\bob) is not it."""
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["ssl", "starttls", "plain"] = "ssl"
    username: str
    folder: str = "INBOX"
    folders: list[str] | None = None
    """Several folders to watch, IMAP LIST patterns allowed ("Clients/*", "Projects/%"):
    instead of ``folder``. Sent, Drafts, Trash and Junk are never watched."""
    ca_file: Path | None = None
    sent_folder: str | None = None
    """Append a copy of every reply to this folder (e.g. "Sent"); off when unset."""
    authserv_id: str | None = None
    """The name your server writes in its Authentication-Results headers (for example
    "mx.example.com"). Set it to trust only those; unset, the topmost one is trusted."""
    idle_refresh: Duration = timedelta(minutes=25)
    poll_interval: Duration = timedelta(seconds=60)
    """How often to look for mail when the server has no IDLE."""

    @model_validator(mode="before")
    @classmethod
    def _exchange_host(cls, data: Any) -> Any:
        # An Exchange server is named by server or service_endpoint; host (used in the keyring
        # entry name and in messages) follows from them, so nobody has to write it twice.
        if not isinstance(data, dict) or data.get("backend") != "exchange" or "host" in data:
            return data
        server, endpoint = data.get("server"), data.get("service_endpoint")
        host = server if isinstance(server, str) and server else None
        if host is None and isinstance(endpoint, str):
            host = urlsplit(endpoint).hostname
        return {**data, "host": host} if host else data

    @property
    def effective_port(self) -> int:
        return self.port or {"ssl": 993, "starttls": 143, "plain": 143}[self.security]

    @model_validator(mode="after")
    def _exchange_address(self) -> MailboxConfig:
        exchange = self.backend == "exchange"
        if exchange and not self.primary_smtp_address and "@" not in self.username:
            raise ValueError(
                'backend = "exchange" needs primary_smtp_address (the mailbox\'s email address) '
                f"when username {self.username!r} is not one"
            )
        return self

    @model_validator(mode="after")
    def _one_way_to_name_folders(self) -> MailboxConfig:
        if self.folders is None:
            return self
        if "folder" in self.model_fields_set:
            raise ValueError(
                "mailbox.folder and mailbox.folders are both set: keep one (folders = "
                f'["{self.folder}", ...] watches several)'
            )
        if not self.folders:
            raise ValueError('mailbox.folders is empty: name at least one folder ("INBOX")')
        for name in self.folders:
            if not name.strip() or any(c in name for c in "\r\n\0"):
                raise ValueError(f"mailbox.folders: {name!r} is not a folder name")
        if len(set(self.folders)) != len(self.folders):
            raise ValueError(f"mailbox.folders names a folder twice: {self.folders}")
        if self.backend == "exchange" and (
            len(self.folders) > 1 or any(c in self.folders[0] for c in "*%")
        ):
            raise ValueError(
                'mailbox.folders: backend = "exchange" watches one folder; use '
                "mailbox.folder (several folders are for IMAP)"
            )
        return self

    @property
    def watched_folders(self) -> tuple[str, ...]:
        """What to watch: ``folders`` when set, else ``folder`` alone."""
        return tuple(self.folders) if self.folders is not None else (self.folder,)

    @property
    def ews_auth(self) -> Literal["ntlm", "basic", "oauth2"]:
        """Exchange: how EWS signs in. "password" (the default) is a password login, which
        on-premises Exchange does by NTLM."""
        return "basic" if self.auth == "basic" else "oauth2" if self.auth == "oauth2" else "ntlm"

    @property
    def ews_url(self) -> str:
        """Exchange: the EWS endpoint to talk to."""
        if self.service_endpoint:
            return self.service_endpoint
        return f"https://{self.server or self.host}/EWS/Exchange.asmx"


class SmtpConfig(PasswordSource):
    host: str
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["ssl", "starttls", "plain"] = "starttls"
    username: str | None = None
    auth: Literal["password", "xoauth2", "oauthbearer"] = "password"
    """As mailbox.auth; "xoauth2" / "oauthbearer" need username and token_command."""
    ca_file: Path | None = None
    envelope_sender: Literal["null", "owner"] = "null"
    """RFC 3834 §3.3: an automatic reply goes out with an empty envelope sender (<>), so that
    it can never bounce back into a loop. "owner" for servers that refuse MAIL FROM:<>."""

    @property
    def effective_port(self) -> int:
        return self.port or {"ssl": 465, "starttls": 587, "plain": 25}[self.security]


class StateConfig(_Model):
    dir: Path | None = None
    """Where the SQLite state, the event log and reports go (default: the platform state dir)."""


class TemplatesConfig(_Model):
    dir: Path | None = None
    """Your own templates (reply.txt.j2, reply.html.j2); files here win over the defaults."""


class Person(_Model):
    """A delegate: someone who can help while the owner is away."""

    name: str = Field(min_length=1)
    email: Address
    handle: str | None = None
    """Optional, shown next to the name (e.g. "@carol@hachyderm.io")."""


class DelegateConfig(Person):
    """``[delegate]``: the delegate, and the daily digest every delegate gets (this one and
    those of audiences and routes)."""

    digest: Literal["off", "daily"] = "off"
    """"daily": each delegate gets one mail a day listing the open inquiries routed to them."""
    digest_hour: int = Field(default=9, ge=0, le=23)
    """The hour (0-23, the owner's time zone) the digest goes out; later that day if missed."""


_DOMAIN = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")
_TEMPLATE_NAME = re.compile(r"[A-Za-z0-9_-]+")


def _domain_or_address(value: object) -> object:
    if not isinstance(value, str):
        return value
    text = value.strip().lower().lstrip("@")
    if "@" in text:
        return _address(text)
    if not _DOMAIN.fullmatch(text):
        raise ValueError(
            f"expected an address (a@example.com) or a domain (example.com): {value!r}"
        )
    return text


def _domain_only(value: object) -> object:
    if isinstance(value, str) and "@" in value.strip().lstrip("@"):
        raise ValueError(f"expected a domain such as example.com, not an address: {value!r}")
    return _domain_or_address(value)


AddressOrDomain = Annotated[str, BeforeValidator(_domain_or_address)]
Domain = Annotated[str, BeforeValidator(_domain_only)]


class AudienceBehaviour(_Model):
    """How one audience (internal, external, vip) is answered."""

    reply: bool = True
    """False: senders of this audience get no automatic reply (they are still tracked)."""
    template: str = "reply"
    """Base name of the templates: "vip" uses vip.txt.j2 and vip.html.j2."""
    delegate: Person | None = None
    """Overrides [delegate] for this audience."""
    cc_delegate: bool = False
    """Copy the delegate on the reply, so they can answer the sender directly."""
    forward_to_delegate: bool = False
    """Forward the inquiry to the delegate (marked Auto-Submitted: auto-forwarded)."""

    @field_validator("template")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not _TEMPLATE_NAME.fullmatch(value):
            raise ValueError('expected a template base name like "vip" (letters, digits, - and _)')
        return value


class AudiencesConfig(_Model):
    internal_domains: list[Domain] | None = None
    """Domains (and their subdomains) whose senders are "internal"; default: the domains of
    owner.addresses."""
    vip: list[AddressOrDomain] = []
    """Addresses or domains (with subdomains) whose senders are VIPs."""
    external_replies: Literal["all", "known"] = "all"
    """Like Exchange's external audience: "known" answers only external senders the owner
    has written to (found in the Sent folder) or listed in contacts_file."""
    contacts_file: Path | None = None
    """One address per line (# comments allowed), or a vCard file: known senders."""
    sent_folder: str = "Sent"
    """Where to find who the owner has written to, for external_replies = "known"."""


_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")


def _language_code(value: object) -> object:
    """A language code Babel (CLDR) knows: ``"de"``, ``"fr"``; not ``"german"``, not ``"xx"``."""
    if not isinstance(value, str):
        return value
    code = value.strip().lower()
    if not _LANGUAGE_CODE.fullmatch(code):
        raise ValueError('expected a two-letter language code such as "de" or "fr"')
    from babel import localedata

    if not localedata.exists(code):
        raise ValueError(f'unknown language code "{code}" (expected one such as "de" or "fr")')
    return code


LanguageCode = Annotated[str, BeforeValidator(_language_code)]


class ReplyConfig(_Model):
    share_subject: bool = False
    """Put the sender's subject in "ask my network" links (never for internal senders)."""
    internal: AudienceBehaviour = AudienceBehaviour()
    external: AudienceBehaviour = AudienceBehaviour()
    vip: AudienceBehaviour = AudienceBehaviour()
    languages: list[LanguageCode] = ["en"]
    """The languages replies may be written in (shipped templates or the owner's); the first
    is the default. The sender's language is chosen as ooo.core.language describes."""
    bilingual: list[LanguageCode] = []
    """Two of ``languages``: one reply carrying both, the chosen one first."""

    @field_validator("languages")
    @classmethod
    def _some_languages(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError('name at least one language, e.g. ["en"]')
        if len(set(value)) != len(value):
            raise ValueError("a language is named twice")
        return value

    @field_validator("bilingual")
    @classmethod
    def _two_languages(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if not value:
            return value
        if len(value) != 2 or value[0] == value[1]:
            raise ValueError('expected two different languages, e.g. ["en", "de"]')
        offered = info.data.get("languages") or []
        missing = [code for code in value if code not in offered]
        if offered and missing:
            raise ValueError(
                f'"{missing[0]}" is not one of reply.languages {offered}: add it there'
            )
        return value


class RouteConfig(_Model):
    """A rule that picks a delegate and/or a template. The first matching route wins; every
    condition given must match, and at least one must be given."""

    name: str | None = None
    from_: list[AddressOrDomain] = Field(default=[], alias="from")
    to: list[Address] = []
    subject_contains: list[str] = []
    body_contains: list[str] = []
    delegate: Person | None = None
    template: str | None = None
    cc_delegate: bool | None = None
    forward_to_delegate: bool | None = None
    reply: bool | None = None
    language: LanguageCode | None = None
    """Answer this route's senders in this language (one of ``[reply] languages``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _has_condition(self) -> RouteConfig:
        if not (self.from_ or self.to or self.subject_contains or self.body_contains):
            raise ValueError(
                "a route needs at least one condition: from, to, subject_contains or body_contains"
            )
        if self.template is not None and not _TEMPLATE_NAME.fullmatch(self.template):
            raise ValueError('template: expected a base name like "billing"')
        return self


class LimitsConfig(_Model):
    batch_size: int = Field(default=100, ge=1, le=10_000)
    # The safety valve against floods (a spam run, a mail loop, one sender rotating addresses):
    # past this many replies in the last hour, new inquiries are tracked but not answered.
    max_replies_per_hour: int = Field(default=120, ge=0, le=1_000_000)
    """0: no limit."""
    # The first delay before a reply the SMTP server did not take is tried again; it doubles
    # on each failure up to 15 minutes.
    retry_first: Duration = timedelta(seconds=15)
    # SMTP sessions a burst of replies may use at once (1: one session, sends one at a time).
    smtp_sessions: int = Field(default=3, ge=1, le=8)

    @field_validator("retry_first")
    @classmethod
    def _sane_retry(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= timedelta(minutes=15):
            raise ValueError("expected a duration between 1s and 15m")
        return value


class HandoffConfig(_Model):
    """Who answers while ooo is not running (ooo.handoff): the mail server, after the lease.
    host/port/security/ca_file are for "sieve" (ManageSieve); unset, they follow [mailbox]."""

    method: Literal["none", "sieve", "exchange"] = "none"
    lease: Duration = timedelta(minutes=15)
    host: str | None = None
    port: int = Field(default=4190, ge=1, le=65535)
    security: Literal["ssl", "starttls", "plain"] | None = None
    ca_file: Path | None = None

    @field_validator("lease")
    @classmethod
    def _long_enough(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=30):  # shorter: the server would answer for a busy ooo
            raise ValueError("expected at least 30s")
        return value

    def sieve_server(self, mailbox: MailboxConfig) -> tuple[str, int, str, Path | None]:
        """(host, port, security, ca_file): an encrypted mailbox means STARTTLS on 4190."""
        security = self.security or ("plain" if mailbox.security == "plain" else "starttls")
        return self.host or mailbox.host, self.port, security, self.ca_file or mailbox.ca_file


class CalendarConfig(_Model):
    """Meeting invitations (iCalendar METHOD:REQUEST) for events inside the away window."""

    invitations: Literal["decline", "tentative", "reply", "ignore"] = "decline"
    """decline/tentative: an iTIP reply to the organiser (RFC 5546); reply: the prose reply;
    ignore: no answer (still tracked)."""


class ReportConfig(_Model):
    """The resolution report the owner gets when the window ends."""

    to_inbox: bool = True
    """Put the report into the owner's own inbox (IMAP APPEND / an Exchange item), once."""
    language: str | None = None
    """The report's language (a shipped one); default: the first of [reply] languages."""

    @field_validator("language")
    @classmethod
    def _shipped_language(cls, value: str | None) -> str | None:
        from ooo.locale import normalise  # en, de, fr, es, nl: ooo/locale

        return normalise(value) if value is not None else None


class Config(_Model):
    owner: OwnerConfig
    away: AwayConfig
    mailbox: MailboxConfig
    smtp: SmtpConfig | None = None
    """Required for IMAP; with backend = "exchange", replies go out through EWS when unset."""
    state: StateConfig = StateConfig()
    templates: TemplatesConfig = TemplatesConfig()
    limits: LimitsConfig = LimitsConfig()
    network: list[NetworkEntry] = []
    delegate: DelegateConfig | None = None
    audiences: AudiencesConfig = AudiencesConfig()
    reply: ReplyConfig = ReplyConfig()
    route: list[RouteConfig] = []
    handoff: HandoffConfig = HandoffConfig()
    calendar: CalendarConfig = CalendarConfig()
    report: ReportConfig = ReportConfig()

    path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _localise_window(cls, data: Any) -> Any:
        # TOML local date-times carry no zone: they mean the owner's time zone. A bare date
        # means midnight. Done before field validation so the models stay frozen.
        if not isinstance(data, dict):
            return data
        owner, away = data.get("owner"), data.get("away")
        if not isinstance(owner, dict) or not isinstance(away, dict):
            return data
        try:
            tz = ZoneInfo(str(owner.get("timezone", "UTC")))
        except (ZoneInfoNotFoundError, ValueError):
            return data  # the timezone field reports it
        away = dict(away)
        for key in ("start", "end"):
            value = away.get(key)
            if isinstance(value, datetime) and value.tzinfo is None:
                away[key] = value.replace(tzinfo=tz)
            elif isinstance(value, date) and not isinstance(value, datetime):
                away[key] = datetime(value.year, value.month, value.day, tzinfo=tz)
        return {**data, "away": away}

    @model_validator(mode="after")
    def _coherent(self) -> Config:
        if self.away.end <= self.away.start:
            raise ValueError(
                f"away.end ({self.away.end.isoformat()}) must be after away.start "
                f"({self.away.start.isoformat()})"
            )
        for i, route in enumerate(self.route):
            wants_delegate = route.cc_delegate or route.forward_to_delegate
            if wants_delegate and not (route.delegate or self.delegate):
                raise ValueError(
                    f"route[{i}] copies or forwards to a delegate, but neither the route nor "
                    f"[delegate] names one"
                )
        for name in ("internal", "external", "vip"):
            b: AudienceBehaviour = getattr(self.reply, name)
            if (b.cc_delegate or b.forward_to_delegate) and not (b.delegate or self.delegate):
                raise ValueError(
                    f"reply.{name} copies or forwards to a delegate, but neither it nor "
                    f"[delegate] names one"
                )
        if self.smtp is None and self.mailbox.backend != "exchange":
            raise ValueError(
                'missing [smtp]: it is required unless mailbox.backend = "exchange" (where '
                "replies can go out through Exchange itself)"
            )
        for section, sec in self._sections():
            if sec.security == "plain" and not is_loopback(sec.host):
                raise ValueError(
                    f'{section}.security = "plain" sends the password unencrypted; it is only '
                    f"allowed to a loopback host (127.0.0.1, ::1, localhost), not {sec.host!r}. "
                    f'Use "ssl" or "starttls"'
                )
        m = self.mailbox
        if m.backend == "exchange" and urlsplit(m.ews_url).scheme != "https":
            host = urlsplit(m.ews_url).hostname or ""
            if not is_loopback(host):
                raise ValueError(
                    f"mailbox.service_endpoint = {m.ews_url!r} is not https: the login (NTLM, "
                    f"Basic or a token) would cross the network unencrypted. Plain http is only "
                    f"allowed to a loopback host; use https://{host}/EWS/Exchange.asmx"
                )
        return self

    def _sections(self) -> list[tuple[str, MailboxConfig | SmtpConfig]]:
        found: list[tuple[str, MailboxConfig | SmtpConfig]] = [("mailbox", self.mailbox)]
        return found + ([("smtp", self.smtp)] if self.smtp is not None else [])

    @model_validator(mode="after")
    def _handoff(self) -> Config:
        h, backend = self.handoff, self.mailbox.backend
        wanted = {"sieve": "imap", "exchange": "exchange"}.get(h.method, backend)
        if backend != wanted:
            raise ValueError(
                f'handoff.method = "{h.method}" needs mailbox.backend = "{wanted}", not '
                f'"{backend}": use "sieve" for an IMAP server, "exchange" for Exchange'
            )
        extra = {"host", "port", "security", "ca_file"} & h.model_fields_set
        if h.method == "exchange" and extra:
            raise ValueError(f'handoff.{min(extra)} is only used with method = "sieve": remove it')
        host, _, security, _ = h.sieve_server(self.mailbox)
        if h.method == "sieve" and security == "plain" and not is_loopback(host):
            raise ValueError(
                f"handoff.security is plain{'' if h.security else ' (as mailbox.security)'}: "
                f"the password would cross the network unencrypted to {host!r}; plain is only "
                'for a loopback host. Set handoff.security = "starttls" (ManageSieve\'s standard)'
            )
        return self

    @model_validator(mode="after")
    def _reply_languages(self) -> Config:
        """Every reply language has its templates; a route's language is a reply language."""
        offered = self.reply.languages
        for i, rule in enumerate(self.route):
            if rule.language is not None and rule.language not in offered:
                raise ValueError(
                    f'route[{i}].language = "{rule.language}" is not one of reply.languages '
                    f"{offered}: add it there"
                )
        from ooo.resources import shipped

        folders = [self.templates.dir.expanduser()] if self.templates.dir else []
        folders += [found] if (found := shipped("templates")) else []
        for code in offered:
            for ext in ("txt", "html"):
                names = [f"reply.{code}.{ext}.j2"] + ([f"reply.{ext}.j2"] if code == "en" else [])
                if not any((folder / name).is_file() for folder in folders for name in names):
                    where = f"neither in {folders[0]} nor" if self.templates.dir else "not"
                    raise ValueError(
                        f'reply.languages: "{code}" has no templates: {names[0]} is {where} '
                        "among the shipped templates (add it to [templates] dir)"
                    )
        return self

    @model_validator(mode="after")
    def _sign_in(self) -> Config:
        """auth, token_command and the password keys of each section must agree."""
        for section, sec in self._sections():
            problem = _sign_in_problem(section, sec, self.mailbox.backend)
            if problem:
                raise ValueError(problem)
        return self


_OAUTH_AUTH = ("xoauth2", "oauthbearer")
_IMAP_AUTH = ("password", *_OAUTH_AUTH)
# Sign-ins that take a bearer token, so token_command makes sense ("oauth2": Exchange EWS).
TOKEN_AUTH = (*_OAUTH_AUTH, "oauth2")


def _sign_in_problem(section: str, sec: MailboxConfig | SmtpConfig, backend: str) -> str | None:
    """What makes no sense in one section's sign-in keys, as a sentence naming the key."""
    auth = sec.auth
    oauth = auth in _OAUTH_AUTH
    if (section == "smtp" or backend == "imap") and auth not in _IMAP_AUTH:
        where = "SMTP" if section == "smtp" else "the IMAP backend"
        return (
            f'{section}.auth = "{auth}" is not available for {where}: use "password", '
            '"xoauth2" or "oauthbearer"'
        )
    if oauth and section == "mailbox" and backend != "imap":
        return (
            f'mailbox.auth = "{auth}" is for backend = "imap" (Microsoft 365 and Gmail over '
            f'IMAP), not backend = "{backend}"'
        )
    if oauth and not sec.username:
        return f'{section}.auth = "{auth}" needs {section}.username: the account the token is for'
    if oauth and not sec.token_command:
        return (
            f'{section}.auth = "{auth}" needs {section}.token_command: a command that prints a '
            f'fresh access token, e.g. token_command = "oama access {sec.username}"'
        )
    if oauth:
        for key in ("password_command", "keyring_entry"):
            if getattr(sec, key):
                return (
                    f'{section}.{key} is not used with {section}.auth = "{auth}" (the token '
                    f"comes from {section}.token_command): remove {key}"
                )
    if sec.token_command and auth not in TOKEN_AUTH:
        return (
            f'{section}.token_command is set but {section}.auth is "{auth}", so it would be '
            f'ignored: set {section}.auth = "xoauth2" (Microsoft 365, Gmail) or "oauthbearer", '
            "or remove token_command"
        )
    return None


def default_config_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("ooo")) / "config.toml"


def resolve_path(explicit: str | os.PathLike[str] | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    return default_config_path()


def load(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate the config file, or raise ConfigError saying what and where."""
    cfg_path = resolve_path(path)
    try:
        raw = cfg_path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(
            f"no config file at {cfg_path}",
            advice="create one with `ooo config init`, or pass -c FILE / set $OOO_CONFIG",
        ) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {cfg_path}: {exc}") from exc
    check_private(cfg_path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read config file {cfg_path}: not UTF-8: {exc}") from exc
    return loads(text, cfg_path)


def check_private(path: Path) -> None:
    """Refuse a config that someone other than its owner could have written, as ssh does
    with its config: ooo runs its password and token commands, and sends the keyring's
    passwords to the servers it names. Group- or world-writable, owned by another user, or in
    a directory that another user could write (sticky directories such as /tmp excepted:
    nobody else can replace what is ours in them) -> ConfigError with the chmod to run."""
    if os.name != "posix":
        return  # NTFS ACLs do not map onto modes; the profile directory is private already
    uid = os.getuid()
    target = path.resolve()
    try:
        st = target.stat()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    if st.st_uid not in (uid, 0):
        raise ConfigError(
            f"{path} is owned by another user (uid {st.st_uid}), so it could tell ooo to run "
            "any command as you",
            advice=f"use a config you own: cp {path} ~/.config/ooo/config.toml",
        )
    if st.st_mode & 0o022:
        raise ConfigError(
            f"{path} can be written by {_who(st.st_mode)}, so they could make ooo run a "
            f"command as you (password_command, token_command) or send your password elsewhere",
            advice=f"run: chmod go-w {path}",
        )
    for parent in target.parents:
        try:
            pst = parent.stat()
        except OSError:
            continue
        sticky = bool(pst.st_mode & 0o1000)
        if pst.st_uid not in (uid, 0) and not sticky:
            raise ConfigError(
                f"{path} is in {parent}, which belongs to another user (uid {pst.st_uid}): they "
                "could replace the config",
                advice="keep the config in a directory you own, such as ~/.config/ooo",
            )
        if pst.st_mode & 0o022 and not sticky:
            raise ConfigError(
                f"{path} is in {parent}, which can be written by {_who(pst.st_mode)}: they "
                "could replace the config",
                advice=f"run: chmod go-w {parent}",
            )


def _who(mode: int) -> str:
    return "everyone" if mode & 0o002 else "its group"


def loads(text: str, path: Path) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid TOML",
            problems=[str(exc)],
            advice="fix the syntax at that line (strings need quotes, tables [like_this])",
        ) from exc
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            f"{path} has {exc.error_count()} problem(s)",
            problems=[_describe(err, text, path) for err in exc.errors()],
            advice="see config.example.toml for every key with a comment",
        ) from exc
    return config.model_copy(update={"path": path})


def _describe(err: Any, text: str, path: Path) -> str:
    raw_loc = list(err.get("loc", ()))
    loc = [str(p) for p in raw_loc if not isinstance(p, int)]
    key = ""
    for part in raw_loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    key = key or "(top level)"
    kind = err.get("type", "")
    msg = err.get("msg", "invalid")
    msg = msg.removeprefix("Value error, ")
    if kind == "extra_forbidden":
        msg = "unknown key (a typo?)"
    elif kind == "missing":
        msg = "missing: this key is required"
    given = err.get("input")
    where = _line_of(text, raw_loc)
    prefix = f"{path}:{where}" if where else f"{path}"
    shown = "" if kind in ("missing",) or isinstance(given, dict) else f" (given: {given!r})"
    if not loc:
        return f"{prefix}: {msg}"
    return f"{prefix}: {key}: {msg}{shown}"


def _line_of(text: str, raw_loc: list[Any]) -> int | None:
    """The line where ``loc`` is set, found by reading the file as the user wrote it. TOML
    parsers keep no positions, and a message without a line number sends people searching.
    An index (``network[2]``) picks the third ``[[network]]`` table."""
    loc = [str(p) for p in raw_loc if not isinstance(p, int)]
    if not loc:
        return None
    lines = text.splitlines()
    index = next((p for p in raw_loc if isinstance(p, int)), 0)
    if isinstance(raw_loc[-1], int):
        loc.append("")  # the entry itself is wrong: point at its header
    table, key = loc[:-1], loc[-1]
    start = 0
    if table:
        header = re.compile(r"^\s*\[+\s*" + re.escape(".".join(table)) + r"\s*\]+")
        found = [i for i, line in enumerate(lines) if header.match(line)]
        start = found[index] if index < len(found) else (found[0] if found else -1)
        if not key:
            return start + 1 if start >= 0 else None
        if start < 0:
            # the key may be the table itself ([away] missing a key): point at the table
            return None
    keyline = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
    for i in range(start, len(lines)):
        if i > start and table and re.match(r"^\s*\[", lines[i]):
            break
        if not table and re.match(r"^\s*\[", lines[i]):
            break
        if keyline.match(lines[i]):
            return i + 1
    return start + 1 if table else None
