"""The Sieve script ooo installs on the mail server while the owner is away, and a reader for
the owner's own script (pure: no I/O, ``now`` is never read here).

The script (RFC 5228) is what makes the mail server answer in ooo's place once ooo stops
renewing its *lease* (see ooo.handoff): at delivery, while ``currentdate`` is at or past the
lease and before the away window ends, it marks the message with the keyword
:data:`SERVER_KEYWORD` (RFC 5232) and runs a ``vacation`` action (RFC 5230) with the owner's
reply text, except for the senders ooo answered itself; then, for every message, it includes
the owner's own active script (RFC 6609), so their filing rules keep working.

Its first lines are a comment with the facts ooo needs to find again after a crash (whose
script to switch back to, the lease, why it was set): the server, not a local file, is the
record of what is installed, so nothing is lost with the workstation.

Every string that reaches the script goes through :func:`quote`: backslashes and quotes are
escaped, NUL and stray carriage returns dropped, and ``${`` neutralised when the script needs
the ``variables`` extension (only for a custom subject prefix). Comments carry JSON with
``ensure_ascii``, so nothing ends a comment line early.

The reader is a small tokenizer (comments, quoted strings, ``text:`` blocks), enough to tell
whether a script *uses* ``vacation`` (a second vacation in one delivery is an error, so ooo must
not stack its own on top of the owner's) and which scripts it includes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

#: The name of ooo's script on the server.
SCRIPT_NAME = "ooo-handoff"
#: The keyword on every message whose reply the server took over.
SERVER_KEYWORD = "$OooServer"
#: Pigeonhole remembers "already answered" per sender and handle: a fixed handle keeps that
#: memory across the many uploads of one away window.
HANDLE = "ooo-handoff"
#: Extensions the script needs on every server (``ooo check`` verifies them).
REQUIRED = ("date", "envelope", "imap4flags", "include", "relational", "vacation")
#: The subject prefix for which the server's own default subject ("Auto: <original>",
#: RFC 5230 §4.3) is exactly ooo's; any other prefix needs ``variables``.
SERVER_DEFAULT_PREFIX = "Auto:"
#: At most this many answered senders go into the script (newest first): enough for a long
#: holiday, small enough (about 40 bytes each) for the server's script size limit and for
#: the script being compiled at each delivery.
MAX_ANSWERED = 2000
_META = "# ooo-handoff "
_DOLLAR_VAR = "ooo_dollar"


# -- building ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerReply:
    """What the server says for ooo, rendered from the owner's templates for an unknown
    sender (see ooo.handoff.reply). An audience with ``None`` gets no server reply."""

    internal: str | None
    external: str | None
    internal_domains: tuple[str, ...] = ()
    """Senders in these domains (and their subdomains) get ``internal``."""
    subject_prefix: str = "Auto: "
    internal_html: str | None = None
    """For Exchange, whose automatic replies are HTML."""
    external_html: str | None = None
    external_audience: str = "All"
    """Exchange's ExternalAudience: "All", "Known" (contacts only) or "None"."""


@dataclass(frozen=True)
class Handoff:
    """Everything one version of the script says."""

    addresses: tuple[str, ...]
    """The owner's addresses: the server answers mail sent to any of them (``:addresses``)."""
    reply: ServerReply
    window_start: datetime
    window_end: datetime
    lease_until: datetime
    """The server answers from here on (clamped to the window)."""
    owner_script: str | None
    """The owner's own active script, included for every message; None: they had none."""
    answered: tuple[str, ...] = ()
    """Envelope senders ooo answered, newest first; the server skips them."""
    reason: str = ""
    """Why the lease is what it is ("running", "stopped", "sleep"), kept in the comment."""
    days: int = 7
    """Vacation ``:days``: the server answers one sender at most once in this many days."""


def days_for(interval: timedelta) -> int:
    """``:days`` for ooo's reply interval: whole days, rounded up, at least 1 (RFC 5230)."""
    return max(1, math.ceil(interval.total_seconds() / 86400))


def iso(moment: datetime) -> str:
    """``2027-01-02T10:15:00Z``: how Pigeonhole prints ``currentdate :zone "+0000"``
    ``"iso8601"``, so that string comparison is time comparison."""
    if moment.tzinfo is None:
        raise ValueError("a Sieve time must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _needs_variables(reply: ServerReply) -> bool:
    return reply.subject_prefix.strip() != SERVER_DEFAULT_PREFIX


def required(reply: ServerReply) -> tuple[str, ...]:
    """The extensions a script with this reply needs."""
    return (*REQUIRED, "variables") if _needs_variables(reply) else REQUIRED


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def quote(text: str, *, variables: bool = False) -> str:
    """``text`` as a Sieve quoted string. Line breaks become LF (the upload turns them into
    the CRLF RFC 5228 requires), other control characters and lone surrogates are dropped,
    ``\\`` and ``"`` are escaped, and with ``variables`` every ``${`` becomes
    ``${ooo_dollar}{``, which expands to a literal ``${`` (substitution is not recursive)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text).encode("utf-8", "ignore").decode("utf-8")
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    if variables:
        text = text.replace("${", "${" + _DOLLAR_VAR + "}{")
    return f'"{text}"'


def quote_list(items: Sequence[str], *, variables: bool = False) -> str:
    """A Sieve string list (RFC 5228 §2.4.2.1); never empty, so callers test first."""
    if not items:
        raise ValueError("a Sieve string list cannot be empty")
    return "[" + ", ".join(quote(i, variables=variables) for i in items) + "]"


def fit_answered(answered: Iterable[str], cap: int = MAX_ANSWERED) -> tuple[tuple[str, ...], int]:
    """The newest ``cap`` distinct senders (lowercase) and how many older ones are left out.
    Left out means: if one of them writes again while the server is in charge, the server
    may answer them although ooo did (its own memory keeps it to once per ``:days``)."""
    seen = list(dict.fromkeys(a.strip().lower() for a in answered if a and a.strip()))
    return tuple(seen[:cap]), max(0, len(seen) - cap)


def render(h: Handoff) -> str:
    """The whole script for ``h``."""
    var = _needs_variables(h.reply)
    start = max(h.lease_until, h.window_start)
    meta = {
        "answered": len(h.answered),
        "lease_until": iso(h.lease_until),
        "owner_script": h.owner_script,
        "reason": h.reason,
        "v": 1,
        "window_end": iso(h.window_end),
    }
    lines = [
        "# ooo's out-of-office handoff, written by ooo: edits here are overwritten.",
        "# The mail server answers in ooo's place only while ooo is not running (from the lease",
        "# below until the end of the away window); your own script runs for every message.",
        _META + json.dumps(meta, ensure_ascii=True, sort_keys=True),
        f"require {quote_list(required(h.reply))};",
    ]
    if var:
        lines.append(f'set "{_DOLLAR_VAR}" "$";')
        # The original subject, for the owner's own prefix ("Abwesend: <subject>").
        lines.append('set "ooo_subject" "(no subject)";')
        lines.append('if header :matches "subject" "?*" { set "ooo_subject" "${0}"; }')
    conditions = [
        f'currentdate :zone "+0000" :value "ge" "iso8601" {quote(iso(start))}',
        f'currentdate :zone "+0000" :value "lt" "iso8601" {quote(iso(h.window_end))}',
    ]
    if h.answered:
        conditions.append(f'not envelope :all :is "from" {quote_list(h.answered, variables=var)}')
    branches = _branches(h, var)
    if branches:
        lines.append("if allof (" + ",\n          ".join(conditions) + ") {")
        lines += ["    " + line for line in branches]
        lines.append("}")
    if h.owner_script is not None:
        # :optional: if the owner deletes their script while away, delivery still works. A
        # script name is a constant (RFC 6609), never expanded: no ${ to neutralise.
        lines.append(f"include :personal :optional {quote(h.owner_script)};")
    return "\n".join(lines) + "\n"


def _branches(h: Handoff, var: bool) -> list[str]:
    r = h.reply
    internal = _vacation(h, r.internal, var) if r.internal is not None else None
    external = _vacation(h, r.external, var) if r.external is not None else None
    if not r.internal_domains or internal == external:
        return external or []
    exact = list(r.internal_domains)
    below = ["*." + d for d in r.internal_domains]
    test = (
        f'anyof (envelope :domain :is "from" {quote_list(exact, variables=var)},\n'
        f'           envelope :domain :matches "from" {quote_list(below, variables=var)})'
    )
    if internal is None:
        return [f"if not {test} {{", *_indent(external or []), "}"]
    out = [f"if {test} {{", *_indent(internal), "}"]
    if external is not None:
        out[-1] = "} else {"
        out += [*_indent(external), "}"]
    return out


def _indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


def _vacation(h: Handoff, body: str, var: bool) -> list[str]:
    out = [f"addflag {quote(SERVER_KEYWORD)};"]
    args = [f":days {h.days}", f":handle {quote(HANDLE)}"]
    if h.addresses:
        args.append(f":addresses {quote_list(h.addresses, variables=var)}")
    if var:
        prefix = h.reply.subject_prefix.strip()
        args.append(f':subject {quote(prefix, variables=True)[:-1]} ${{ooo_subject}}"')
    out.append(f"vacation {' '.join(args)}")
    out.append(f"    {quote(body, variables=var)};")
    return out


# -- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Meta:
    """What ooo wrote into the comment of a script it installed."""

    owner_script: str | None
    lease_until: datetime
    window_end: datetime | None
    reason: str
    answered: int = 0


def read_meta(script: str) -> Meta | None:
    """The facts of an ooo script, or None when ``script`` is not one ooo wrote."""
    for line in script.splitlines()[:10]:
        if not line.startswith(_META):
            continue
        try:
            data = json.loads(line[len(_META) :])
            owner = data.get("owner_script")
            end = data.get("window_end")
            return Meta(
                owner_script=owner if isinstance(owner, str) else None,
                lease_until=_parse_iso(str(data["lease_until"])),
                window_end=_parse_iso(str(end)) if end else None,
                reason=str(data.get("reason", "")),
                answered=int(data.get("answered", 0)),
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return None
    return None


def _parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class Token:
    kind: str
    """"identifier", "tag", "string", "number" or "special" (one of ``;,()[]{}``)."""
    value: str
    line: int


@dataclass(frozen=True)
class Include:
    name: str
    personal: bool
    line: int


@dataclass
class Analysis:
    """What :func:`analyse` found in an owner's script."""

    vacation_lines: list[int] = field(default_factory=list)
    """Lines where a ``vacation`` action is used (comments and strings do not count)."""
    includes: list[Include] = field(default_factory=list)


_SPECIAL = set(";,()[]{}")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[0-9]+[KMGkmg]?")


def tokens(script: str) -> list[Token]:
    """The tokens of a Sieve script (RFC 5228 §8.1), comments dropped. Lenient: something it
    does not understand is skipped one character at a time, never an exception."""
    out: list[Token] = []
    i, line, n = 0, 1, len(script)
    while i < n:
        c = script[i]
        if c == "\n":
            line += 1
            i += 1
        elif c in " \t\r":
            i += 1
        elif c == "#":
            end = script.find("\n", i)
            i = n if end < 0 else end
        elif script.startswith("/*", i):
            end = script.find("*/", i + 2)
            stop = n if end < 0 else end + 2
            line += script.count("\n", i, stop)
            i = stop
        elif c == '"':
            j, chars = i + 1, []
            while j < n and script[j] != '"':
                if script[j] == "\\" and j + 1 < n:
                    j += 1
                chars.append(script[j])
                j += 1
            out.append(Token("string", "".join(chars), line))
            line += script.count("\n", i, j)
            i = j + 1
        elif script[i : i + 5].lower() == "text:" and (i == 0 or not _is_word(script[i - 1])):
            value, stop = _text_block(script, i + 5)
            out.append(Token("string", value, line))
            line += script.count("\n", i, stop)
            i = stop
        elif c == ":" and (m := _WORD.match(script, i + 1)):
            out.append(Token("tag", m.group().lower(), line))
            i = m.end()
        elif m := _WORD.match(script, i):
            out.append(Token("identifier", m.group().lower(), line))
            i = m.end()
        elif m := _NUMBER.match(script, i):
            out.append(Token("number", m.group(), line))
            i = m.end()
        else:
            if c in _SPECIAL:
                out.append(Token("special", c, line))
            i += 1
    return out


def _is_word(c: str) -> bool:
    return c.isalnum() or c == "_"


def _text_block(script: str, i: int) -> tuple[str, int]:
    """A ``text:`` multi-line string starting after ``text:``: (value, index after it)."""
    eol = script.find("\n", i)
    if eol < 0:
        return "", len(script)
    lines, j = [], eol + 1
    while j < len(script):
        end = script.find("\n", j)
        raw = script[j : len(script) if end < 0 else end].rstrip("\r")
        j = len(script) if end < 0 else end + 1
        if raw == ".":
            break
        lines.append(raw[1:] if raw.startswith("..") else raw)
    return "\n".join(lines), j


def analyse(script: str) -> Analysis:
    """Where ``script`` uses vacation, and the scripts it includes."""
    found = Analysis()
    toks = tokens(script)
    for k, tok in enumerate(toks):
        if tok.kind != "identifier":
            continue
        previous = toks[k - 1] if k else None
        if previous is not None and previous.kind not in ("special",):
            continue  # an argument, not a command
        if tok.value == "vacation":
            found.vacation_lines.append(tok.line)
        elif tok.value == "include":
            personal = True
            for arg in toks[k + 1 :]:
                if arg.kind == "tag":
                    personal = personal and arg.value != "global"
                    continue
                if arg.kind == "string":
                    found.includes.append(Include(arg.value, personal, tok.line))
                break
    return found
