"""What the owner's mail server says about where a message really came from.

The receiving server checks SPF, DKIM and DMARC and writes its verdict into an
``Authentication-Results`` header (RFC 8601) at the top of the message. ooo cannot check these
itself (it sees the message long after delivery, without the SMTP session), so it trusts that
header, and only the one its own server wrote: the topmost one, or those whose authserv-id is
``[mailbox] authserv_id`` when set (a server strips forged copies of its own id, RFC 8601 §5).

A resolution signal from a message that *fails* these checks (a forged From, a third party
pretending to answer in the thread) is recorded as unverified and does not change the status of
an inquiry. A message with no verdict at all is taken as it is: ooo cannot know more than the
server says, and a server that does not check leaves the owner no better off than before.

Pure: a function of the parsed headers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ooo.core.parse import Inbound

Status = Literal["pass", "fail", "none"]

_COMMENT = re.compile(r"\([^()]*\)")
_RESULT = re.compile(r"^\s*([a-z0-9_-]+)\s*=\s*([a-z]+)\b(.*)$", re.IGNORECASE | re.DOTALL)
_PROPERTY = re.compile(r"\b([a-z]+\.[a-z0-9_-]+)\s*=\s*\"?([^\s;\"]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Verdict:
    status: Status
    """pass: DMARC passed, or DKIM/SPF passed for the From domain; fail: DMARC failed, or both
    SPF and DKIM failed; none: no verdict from the owner's server."""
    detail: str = ""
    """The results that decided it, as the server wrote them ("dmarc=fail")."""

    @property
    def failed(self) -> bool:
        return self.status == "fail"


def verdict(msg: Inbound, authserv_id: str | None = None) -> Verdict:
    """The owner's server's verdict on ``msg``'s From address."""
    values = msg.headers.get("authentication-results", ())
    if authserv_id:
        wanted = authserv_id.strip().lower()
        chosen = [v for v in values if _authserv(v) == wanted]
    else:
        chosen = list(values[:1])
    results: list[tuple[str, str, dict[str, str]]] = []
    for value in chosen:
        results += _results(value)
    if not results:
        return Verdict("none")
    domain = (msg.from_address or "").rpartition("@")[2]
    dmarc = [r for m, r, _ in results if m == "dmarc"]
    if "pass" in dmarc:
        return Verdict("pass", "dmarc=pass")
    if "fail" in dmarc:
        return Verdict("fail", "dmarc=fail")
    dkim = [(r, props.get("header.d", "")) for m, r, props in results if m == "dkim"]
    spf = [(r, _domain_of(props.get("smtp.mailfrom", ""))) for m, r, props in results if m == "spf"]
    if any(r == "pass" and _aligned(d, domain) for r, d in dkim):
        return Verdict("pass", "dkim=pass")
    if any(r == "pass" and _aligned(d, domain) for r, d in spf):
        return Verdict("pass", "spf=pass")
    dkim_failed = not dkim or all(r in ("fail", "none", "neutral", "policy") for r, _ in dkim)
    if any(r == "fail" for r, _ in spf) and dkim_failed:
        return Verdict("fail", "spf=fail" + (", dkim=fail" if dkim else ""))
    return Verdict("none")


def _authserv(value: str) -> str:
    head = _COMMENT.sub(" ", value).split(";", 1)[0].split()
    return head[0].lower() if head else ""


def _results(value: str) -> list[tuple[str, str, dict[str, str]]]:
    """(method, result, properties) of each resinfo in one header value."""
    parts = _COMMENT.sub(" ", value).split(";")[1:]
    found = []
    for part in parts[:20]:
        m = _RESULT.match(part)
        if not m:
            continue
        props = {k.lower(): v.lower() for k, v in _PROPERTY.findall(m.group(3))}
        found.append((m.group(1).lower(), m.group(2).lower(), props))
    return found


def _domain_of(value: str) -> str:
    return value.rpartition("@")[2].strip("<>").lower()


def _aligned(signed: str, from_domain: str) -> bool:
    """Relaxed alignment (RFC 7489 §3.1), approximated without the public suffix list: the
    same domain, or one a subdomain of the other."""
    if not signed or not from_domain:
        return False
    return (
        signed == from_domain
        or from_domain.endswith("." + signed)
        or signed.endswith("." + from_domain)
    )
