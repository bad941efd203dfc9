"""Benchmark the post-vacation report on a large away window: 10,000 inquiries and 30,000
resolution signals (synthetic, fixed seed), over 30 days.

Times, best of 3 runs each: ``derive`` + ``build_report`` together, then every renderer on the
same report. Prints one line per step and the output sizes. Usage:
``python benchmarks/bench_report.py [--inquiries 10000] [--signals 30000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ooo.core.tracking import InquiryFacts, ResolvedBy, SignalEvent
from ooo.report import FORMATS, Report, build_report, render

TZ = ZoneInfo("Europe/Berlin")
START = datetime(2027, 7, 1, 6, 0, tzinfo=UTC)
DAYS = 30
END = START + timedelta(days=DAYS)
T = TypeVar("T")

WORDS = (
    "invoice", "access", "review", "budget", "contract", "question", "error", "upload", "export",
    "login", "release", "api", "meeting", "agenda", "refund", "licence", "partnership",
    "interview", "talk", "staging", "cluster", "dns",
)  # fmt: skip
RESOLVERS: tuple[ResolvedBy, ...] = ("network", "delegate", "sender", "owner")
RULES = {
    "network": "network_answered",
    "delegate": "delegate_answered",
    "sender": "sender_says_resolved",
    "owner": "owner_resolved",
}


def synthetic(
    n_inquiries: int, n_signals: int, seed: int = 7
) -> tuple[list[InquiryFacts], list[SignalEvent]]:
    rng = random.Random(seed)
    span = (END - START).total_seconds()
    inquiries = []
    for i in range(n_inquiries):
        received = START + timedelta(seconds=rng.uniform(0, span))
        audience = rng.choices(("internal", "external", "vip", None), (40, 50, 5, 5))[0]
        inquiries.append(
            InquiryFacts(
                ref=f"OOO-{i:06d}",
                sender=f"person{rng.randrange(3000)}@example{rng.randrange(50)}.org",
                from_name=f"Person {i}",
                subject=" ".join(rng.choices(WORDS, k=rng.randint(2, 8))).capitalize(),
                received_at=received,
                audience=audience,
                replied=rng.random() < 0.9,
                delegate="carol@example.com",
                message_id=f"<m{i}@example.org>",
            )
        )
    signals = []
    for _ in range(n_signals):
        inq = rng.choice(inquiries)
        at = inq.received_at + timedelta(hours=rng.expovariate(1 / 20))
        kind = rng.choices(("resolved", "open", "reopened"), (70, 25, 5))[0]
        by = rng.choice(RESOLVERS) if kind == "resolved" else None
        rule = RULES[by] if by else ("sender_still_open" if kind == "open" else "owner_reopened")
        signals.append(
            SignalEvent(
                ref=inq.ref,
                at=at,
                kind=kind,  # type: ignore[arg-type]
                by=by,
                rule=rule,
                evidence=" ".join(rng.choices(WORDS, k=rng.randint(3, 14))),
                author=f"helper{rng.randrange(100)}@example.com",
                helper="@carol@hachyderm.io" if rng.random() < 0.1 else None,
                flagged=kind == "open" and rng.random() < 0.3,
            )
        )
    rng.shuffle(signals)  # the store returns them in insertion order, not per inquiry
    return inquiries, signals


def best_of(repeat: int, fn: Callable[[], T]) -> tuple[float, T]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    assert result is not None
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inquiries", type=int, default=10_000)
    parser.add_argument("--signals", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    t0 = time.perf_counter()
    inquiries, signals = synthetic(args.inquiries, args.signals)
    print(
        f"data: {len(inquiries):,} inquiries, {len(signals):,} signals over {DAYS} days "
        f"(made in {time.perf_counter() - t0:.2f} s); best of {args.repeat}"
    )

    def build() -> Report:
        return build_report(
            inquiries,
            signals,
            {"mailing_list": 4000, "robot_sender": 1500, "already_replied": 900},
            owner_name="Bob Example",
            timezone=TZ,
            window_start=START,
            window_end=END,
            at=END,
        )

    seconds, report = best_of(args.repeat, build)
    s = report.summary
    print(f"  {'derive + build_report':<22} {seconds * 1000:9.1f} ms")
    print(
        f"  {'':<22} total {s.total:,}, resolved {s.resolved:,}, open {s.open:,} "
        f"(flagged {s.flagged:,}), {len(report.per_day)} days"
    )
    total = seconds
    for fmt in FORMATS:
        seconds, text = best_of(args.repeat, lambda fmt=fmt: render(report, fmt))  # type: ignore[misc]
        total += seconds
        print(
            f"  {'render ' + fmt:<22} {seconds * 1000:9.1f} ms  {len(text.encode()) / 1e6:6.2f} MB"
        )
    print(f"  {'all of the above':<22} {total * 1000:9.1f} ms")


if __name__ == "__main__":
    main()
