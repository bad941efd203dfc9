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
                    "unverified_signals"}]}
"""

from __future__ import annotations

import json
from typing import Any

from ooo.core.report import OUTCOMES, RESOLVERS, Report
from ooo.core.wording import iso
from ooo.report.base import Reporter

SCHEMA_VERSION = 1


def to_json(r: Report) -> dict[str, Any]:
    """The report as the JSON document of ``docs/report-schema.md`` (before dumping)."""
    tz = r.timezone
    s = r.summary
    return {
        "schema_version": SCHEMA_VERSION,
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
        "inquiries": [
            {
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
                "last_event": v.last_event,
                "time_to_resolve_seconds": (
                    round(v.time_to_resolve.total_seconds()) if v.time_to_resolve else None
                ),
                "unverified_signals": v.unverified,
            }
            for v in r.inquiries
        ],
    }


def render_json(r: Report) -> str:
    return json.dumps(to_json(r), ensure_ascii=False, indent=2) + "\n"


REPORTER = Reporter("json", ".json", lambda report, _template_dir: render_json(report))
