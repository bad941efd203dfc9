"""Audience and delegate routing: who is this sender to the owner, and who can help them.

Pure: a function of the parsed message, the config and the set of known senders. The result
says which audience matched and why, which route matched and why, the delegate, the template,
and the network entries this sender may see. ``ooo preview`` prints all of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from ooo.config import AudienceBehaviour, Config, Person, RouteConfig
from ooo.core.network import NetworkEntry, visible_entries
from ooo.core.parse import Inbound

AudienceName = Literal["internal", "external", "vip"]


@dataclass(frozen=True)
class Routing:
    audience: AudienceName
    audience_reason: str
    route: str | None
    """Which route matched and on what ("route[1] 'billing': subject contains 'invoice'")."""
    delegate: Person | None
    template: str
    cc_delegate: bool
    forward_to_delegate: bool
    reply: bool
    """False when the audience or route says not to answer, or the external sender is unknown."""
    no_reply_reason: str = ""
    network: list[NetworkEntry] = field(default_factory=list)
    internal_sender: bool = False
    """The sender's domain is internal (true for an internal VIP too): internal channels may
    be shown, and nothing of theirs goes into a public link."""
    language: str | None = None
    """The language the matched route names (first in the choice, ooo.core.language)."""

    def describe(self) -> list[str]:
        lines = [f"audience: {self.audience} ({self.audience_reason})"]
        lines.append(f"route:    {self.route or 'none matched (audience defaults)'}")
        if self.delegate:
            how = [
                w
                for w, on in (("cc'd", self.cc_delegate), ("forwarded", self.forward_to_delegate))
                if on
            ]
            lines.append(
                f"delegate: {self.delegate.name} <{self.delegate.email}>"
                + (f" ({', '.join(how)})" if how else "")
            )
        else:
            lines.append("delegate: none")
        lines.append(f"template: {self.template}")
        shown = ", ".join(e.display for e in self.network) or "none"
        lines.append(f"network:  {shown}")
        return lines


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower()


def in_domain(domain: str, parents: Iterable[str]) -> str | None:
    """The entry of ``parents`` that ``domain`` is or is a subdomain of."""
    for parent in parents:
        if domain == parent or domain.endswith("." + parent):
            return parent
    return None


def matches_party(address: str, entries: Iterable[str]) -> str | None:
    """The entry (an address, or a domain with its subdomains) that ``address`` matches."""
    domain = domain_of(address)
    for entry in entries:
        if "@" in entry:
            if address == entry:
                return entry
        elif in_domain(domain, [entry]):
            return entry
    return None


def internal_domains(cfg: Config) -> list[str]:
    if cfg.audiences.internal_domains is not None:
        return list(cfg.audiences.internal_domains)
    return sorted({domain_of(a) for a in cfg.owner.addresses})


def audience_of(address: str, cfg: Config) -> tuple[AudienceName, str]:
    vip = matches_party(address, cfg.audiences.vip)
    if vip:
        return "vip", f"listed as VIP: {vip}"
    domains = internal_domains(cfg)
    parent = in_domain(domain_of(address), domains)
    if parent:
        return "internal", f"{domain_of(address)} is internal"
    return "external", f"{domain_of(address)} is not internal ({', '.join(domains) or 'none'})"


def _route_match(route: RouteConfig, msg: Inbound, sender: str) -> str | None:
    """Why ``route`` matches (every condition given must hold), or None."""
    why: list[str] = []
    if route.from_:
        hit = matches_party(sender, route.from_)
        if not hit:
            return None
        why.append(f"from {hit}")
    if route.to:
        hit_to = next((a for a in msg.recipients if a in route.to), None)
        if not hit_to:
            return None
        why.append(f"sent to {hit_to}")
    for label, words, text in (
        ("subject", route.subject_contains, msg.subject),
        ("body", route.body_contains, msg.body_text),
    ):
        if words:
            lowered = text.lower()
            word = next((w for w in words if w.lower() in lowered), None)
            if word is None:
                return None
            why.append(f"{label} contains {word!r}")
    return ", ".join(why)


def route(msg: Inbound, sender: str, cfg: Config, known: frozenset[str] = frozenset()) -> Routing:
    """Route a message the policy decided to answer (``sender`` is where the reply goes)."""
    audience, audience_reason = audience_of(sender, cfg)
    internal = in_domain(domain_of(sender), internal_domains(cfg)) is not None
    base: AudienceBehaviour = getattr(cfg.reply, audience)
    delegate = base.delegate or cfg.delegate
    template, cc, forward, reply = (
        base.template,
        base.cc_delegate,
        base.forward_to_delegate,
        base.reply,
    )
    no_reply = "" if reply else f"reply.{audience}.reply is false"
    matched: str | None = None
    language: str | None = None
    for i, rule in enumerate(cfg.route):
        why = _route_match(rule, msg, sender)
        if why is None:
            continue
        matched = f"route[{i}]" + (f" {rule.name!r}" if rule.name else "") + f": {why}"
        delegate = rule.delegate or delegate
        template = rule.template or template
        language = rule.language
        cc = cc if rule.cc_delegate is None else rule.cc_delegate
        forward = forward if rule.forward_to_delegate is None else rule.forward_to_delegate
        if rule.reply is not None:
            reply = rule.reply
            no_reply = "" if reply else f"{matched} says reply = false"
        break
    known_only = audience == "external" and cfg.audiences.external_replies == "known"
    if reply and known_only and sender not in known:
        reply = False
        no_reply = (
            'external_replies = "known" and the owner has never written to '
            f"{sender} (not in the Sent folder or contacts)"
        )
    if delegate is not None and delegate.email == sender:
        # The delegate writing to the owner is not pointed to themselves.
        delegate = None
    return Routing(
        audience=audience,
        audience_reason=audience_reason,
        route=matched,
        delegate=delegate,
        template=template,
        cc_delegate=cc and delegate is not None,
        forward_to_delegate=forward and delegate is not None,
        reply=reply,
        no_reply_reason=no_reply,
        network=visible_entries(cfg.network, audience=audience, internal_sender=internal),
        internal_sender=internal,
        language=language,
    )
