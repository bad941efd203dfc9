"""The geometry of the report's chart, as plain data: inquiries per day, stacked by outcome.

Everything the chart shows is computed here (the scale, bar positions and heights, the ticks,
the legend, which days get a label); ``templates/report.html.j2`` only draws it as an inline
SVG. Coordinates are in the units of the SVG's ``viewBox``, rounded to a tenth.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from ooo.core.report import OUTCOMES, DayCounts
from ooo.core.wording import ENGLISH, N_, Language, Nn_

# Okabe & Ito's palette: told apart with every common colour-vision deficiency.
COLOURS: dict[str, str] = {
    "open": "#D55E00",
    "resolved_by_network": "#009E73",
    "resolved_by_delegate": "#0072B2",
    "resolved_by_sender": "#56B4E9",
    "resolved_by_owner": "#CC79A7",
}
# What a pointer over a part of a bar says after the day: ``Mon 6 Jul: 2 still open``.
OUTCOME_WORDS: dict[str, tuple[str, str]] = {
    "open": Nn_("%(day)s: %(n)s still open", "%(day)s: %(n)s still open"),
    "resolved_by_network": Nn_(
        "%(day)s: %(n)s resolved by your network", "%(day)s: %(n)s resolved by your network"
    ),
    "resolved_by_delegate": Nn_(
        "%(day)s: %(n)s resolved by your delegate", "%(day)s: %(n)s resolved by your delegate"
    ),
    "resolved_by_sender": Nn_(
        "%(day)s: %(n)s resolved by the sender", "%(day)s: %(n)s resolved by the sender"
    ),
    "resolved_by_owner": Nn_("%(day)s: %(n)s resolved by you", "%(day)s: %(n)s resolved by you"),
}
LABELS: dict[str, str] = {
    "open": N_("Open"),
    "resolved_by_network": N_("Network"),
    "resolved_by_delegate": N_("Delegate"),
    "resolved_by_sender": N_("Sender"),
    "resolved_by_owner": N_("You"),
}

# The viewBox is sized for a phone (text stays legible at 360 px); a desktop shows it larger.
WIDTH, HEIGHT = 480, 260
LEFT, RIGHT, TOP, BOTTOM = 30, 6, 40, 44


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle: a weekend's shade, or one outcome's part of a day's bar."""

    x: float
    y: float
    width: float
    height: float
    colour: str = ""
    title: str = ""
    """What a pointer over it says: ``Mon 6 Jul: 2 still open``."""


@dataclass(frozen=True, slots=True)
class Swatch:
    """One legend entry: a coloured square and its label."""

    x: float
    label_x: float
    colour: str
    label: str


@dataclass(frozen=True, slots=True)
class Tick:
    """A horizontal grid line (the axis at 0) and its count at the left."""

    y: float
    label_y: float
    value: int
    axis: bool


@dataclass(frozen=True, slots=True)
class Day:
    """One day's slot: its stacked bar, and its labels (None where it gets none)."""

    x: float
    """The middle of the slot."""
    bar: list[Box]
    label: int | None
    """The day of the month, shown under every k-th day so that labels never collide."""
    month: str | None
    """The month, under the first labelled day of each month."""


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    summary: str
    """``25 inquiries from Mon 6 Jul to Sun 19 Jul``: the start of the chart's description."""
    plot_left: int
    plot_right: int
    plot_top: int
    plot_height: int
    tick_x: int
    """Where the counts at the left end (they are right-aligned)."""
    label_y: int
    month_y: int
    weekends: list[Box]
    legend: list[Swatch]
    ticks: list[Tick]
    days: list[Day]


def _px(value: float) -> float:
    return round(value, 1)


def nice_step(top: int) -> int:
    """A tick step of 1, 2 or 5 times a power of ten giving at most five ticks."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if math.ceil(top / (step * factor)) <= 5:
                return step * factor
        step *= 10


def legend(lang: Language = ENGLISH) -> list[Swatch]:
    """One row of swatches above the plot, each label about 8.8 units a character wide, 14
    apart; closer together when a language's labels would not fit in the width otherwise."""
    labels = [lang.gettext(LABELS[key]) for key in OUTCOMES]
    room = WIDTH - RIGHT - LEFT - 19 * len(labels) - 8.8 * sum(map(len, labels))
    gap = min(14.0, max(4.0, room / (len(labels) - 1)))
    swatches = []
    x = float(LEFT)
    for key, label in zip(OUTCOMES, labels, strict=True):
        swatches.append(Swatch(_px(x), _px(x + 19), COLOURS[key], label))
        x += 19 + 8.8 * len(label) + gap
    return swatches


def chart(per_day: Sequence[tuple[date, DayCounts]], lang: Language = ENGLISH) -> Chart:
    """The chart of ``per_day`` (see :attr:`ooo.core.report.Report.per_day`): one slot per
    day, the bars stacked in the order of :data:`ooo.core.report.OUTCOMES`, weekends shaded;
    its words in ``lang``."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(1, len(per_day))
    peak = max((c.total for _, c in per_day), default=0)
    step = nice_step(max(peak, 1))
    y_max = max(step, math.ceil(max(peak, 1) / step) * step)
    slot = plot_w / n
    bar = max(1.0, min(slot * 0.72, 40.0))
    total = sum(c.total for _, c in per_day)
    inquiries = lang.count(total, "%(n)s inquiry", "%(n)s inquiries")
    if per_day:
        summary = lang.ngettext(
            "%(inquiries)s from %(first)s to %(last)s",
            "%(inquiries)s from %(first)s to %(last)s",
            total,
        ) % {
            "inquiries": inquiries,
            "first": lang.day_label(per_day[0][0]),
            "last": lang.day_label(per_day[-1][0]),
        }
    else:
        summary = inquiries

    def y(value: float) -> float:
        return TOP + plot_h - plot_h * value / y_max

    weekends = [
        Box(_px(LEFT + slot * i), TOP, _px(slot), plot_h)
        for i, (day, _) in enumerate(per_day)
        if day.weekday() >= 5
    ]
    ticks = [
        Tick(_px(y(tick)), _px(y(tick) + 5), tick, tick == 0) for tick in range(0, y_max + 1, step)
    ]
    every = max(1, math.ceil(n / 16))
    days = []
    month_shown = None
    for i, (day, counts) in enumerate(per_day):
        cx = LEFT + slot * (i + 0.5)
        stack: list[Box] = []
        base = 0
        for key in OUTCOMES:
            value: int = getattr(counts, key)
            if not value:
                continue
            y1, y0 = y(base + value), y(base)
            one, many = OUTCOME_WORDS[key]
            title = lang.ngettext(one, many, value) % {
                "day": lang.day_label(day),
                "n": lang.number(value),
            }
            stack.append(
                Box(_px(cx - bar / 2), _px(y1), _px(bar), _px(y0 - y1), COLOURS[key], title)
            )
            base += value
        labelled = not i % every
        month = None
        if labelled and (day.year, day.month) != month_shown:
            month_shown = (day.year, day.month)
            month = lang.month(day)
        days.append(Day(_px(cx), stack, day.day if labelled else None, month))
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        summary=summary,
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        plot_top=TOP,
        plot_height=plot_h,
        tick_x=LEFT - 6,
        label_y=TOP + plot_h + 17,
        month_y=TOP + plot_h + 35,
        weekends=weekends,
        legend=legend(lang),
        ticks=ticks,
        days=days,
    )
