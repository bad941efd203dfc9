"""The report as JSON, for other programs: the stored values as they are, every time in
ISO 8601 with the owner's UTC offset.

The document (``schema_version`` 1) is described field by field in ``docs/report-schema.md``.
In short::

    {"schema_version": 1, "generated_at": ISO, "owner": {"name", "timezone"},
     "window": {"start", "end", "at"},
     "summary": {"total", "resolved", "resolved_by": {"network", "delegate", "sender",
                 "owner"}, "open", "flagged", "suppressed"},
     "suppressed": {reason code: count},
     "per_day": [{"date", "open", "resolved_by_network", "resolved_by_delegate",
                  "resolved_by_sender", "resolved_by_owner"}],
     "inquiries": [{"ref", "from", "from_name", "subject", "received_at", "status",
                    "resolved_by", "resolved_at", "evidence", "flagged", "vip", "audience",
                    "replied", "helper", "last_event", "time_to_resolve_seconds",
                    "unverified_signals",
                    # only on inquiries with evidence from the owner's network (0.3):
                    "network_answer": {"network", "helper", "link", "at"} or null,
                    "story": [{"at", "kind", "by", "rule", "evidence", "author", "helper",
                               "flagged", "unverified", "network", "link", "text"}]}]}

A report without evidence from the network is exactly what it was before those fields.
"""

from __future__ import annotations

import json
from datetime import tzinfo
from typing import Any

from ooo.core.report import OUTCOMES, RESOLVERS, InquiryView, Report
from ooo.core.wording import ENGLISH, Language, event_words, iso, last_event, safe_link
from ooo.report.base import Reporter

SCHEMA_VERSION = 1


def _inquiry(v: InquiryView, tz: tzinfo, lang: Language) -> dict[str, Any]:
    item: dict[str, Any] = {
        "ref": v.ref,
        "from": v.sender,
        "from_name": v.from_name,
        "subject": v.subject,
        "received_at": iso(v.received_at, tz),
        "status": v.status,
        "resolved_by": v.resolved_by,
        "resolved_at": iso(v.resolved_at, tz),
        "evidence": v.evidence,
        "flagged": v.flagged,
        "vip": v.vip,
        "audience": v.audience,
        "replied": v.replied,
        "helper": v.helper,
        "last_event": last_event(v, tz, lang),
        "time_to_resolve_seconds": (
            round(v.time_to_resolve.total_seconds()) if v.time_to_resolve else None
        ),
        "unverified_signals": v.unverified,
    }
    if v.from_network:
        item |= _network_fields(v, tz, lang)
    if v.answered_by_server:
        item["answered_by_server"] = True  # (0.3) the mail server's reply, not ooo's
    return item


def _network_fields(v: InquiryView, tz: tzinfo, lang: Language) -> dict[str, Any]:
    """The fields of an inquiry with evidence from the network (docs/report-schema.md)."""
    a = v.answer
    return {
        "network_answer": (
            {"network": a.network, "helper": a.helper, "link": a.link, "at": iso(a.at, tz)}
            if a is not None
            else None
        ),
        "story": [
            {
                "at": iso(e.at, tz),
                "kind": e.kind,
                "by": e.by,
                "rule": e.rule,
                "evidence": e.evidence,
                "author": e.author,
                "helper": e.helper,
                "flagged": e.flagged,
                "unverified": e.unverified,
                "network": e.network,
                "link": safe_link(e.link),
                "text": event_words(e, lang),
            }
            for e in v.story
        ],
    }


def to_json(r: Report, lang: Language = ENGLISH) -> dict[str, Any]:
    """The report as the JSON document of ``docs/report-schema.md`` (before dumping). In
    another language than English, ``language`` names it and the sentences are in it; the keys
    and codes never change."""
    tz = r.timezone
    s = r.summary
    return {
        "schema_version": SCHEMA_VERSION,
        **({"language": lang.code} if lang is not ENGLISH else {}),
        "generated_at": iso(r.generated_at, tz),
        "owner": {"name": r.owner_name, "timezone": tz.key},
        "window": {
            "start": iso(r.window_start, tz),
            "end": iso(r.window_end, tz),
            "at": iso(r.at, tz),
        },
        "summary": {
            "total": s.total,
            "resolved": s.resolved,
            "resolved_by": {b: s.resolved_by(b) for b in RESOLVERS},
            "open": s.open,
            "flagged": s.flagged,
            "suppressed": r.suppressed_total,
        },
        "suppressed": dict(r.suppressed),
        "per_day": [
            {"date": d.isoformat(), **{k: getattr(c, k) for k in OUTCOMES}} for d, c in r.per_day
        ],
        "inquiries": [_inquiry(v, tz, lang) for v in r.inquiries],
    } | (
        {
            "server_periods": [
                {"start": iso(p.start, tz), "end": iso(p.end, tz), "why": p.why}
                for p in r.server_periods
            ]
        }
        if r.server_periods
        else {}
    )


def render_json(r: Report, lang: Language = ENGLISH) -> str:
    return json.dumps(to_json(r, lang), ensure_ascii=False, indent=2) + "\n"


REPORTER = Reporter("json", ".json", lambda report, _template_dir, lang: render_json(report, lang))
