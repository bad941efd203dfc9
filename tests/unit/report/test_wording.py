"""Words and times (ooo.core.wording): durations, one-line text, times in the owner's zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from ooo.core.wording import full_time, human_duration, long_time, plain, short_time

BERLIN = ZoneInfo("Europe/Berlin")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def test_rough_durations_name_the_largest_whole_unit() -> None:
    """The rough style (for a sentence: "it ended 2 days ago") says one unit, rounded down,
    in words; below a minute it counts seconds."""
    assert human_duration(timedelta(days=1, hours=1), style="rough") == "1 day"
    assert human_duration(timedelta(days=3, hours=23), style="rough") == "3 days"
    assert human_duration(timedelta(hours=2), style="rough") == "2 hours"
    assert human_duration(timedelta(hours=1, minutes=59), style="rough") == "1 hour"
    assert human_duration(timedelta(minutes=5, seconds=59), style="rough") == "5 minutes"
    assert human_duration(timedelta(seconds=30), style="rough") == "30 seconds"


def test_compact_durations_are_the_default() -> None:
    """The compact style (tables) is what human_duration says unless asked otherwise."""
    took = timedelta(days=1, hours=2, minutes=10)
    assert human_duration(took) == human_duration(took, style="compact") == "1 d 2 h"


@given(st.text())
def test_plain_is_one_line_of_printable_text(text: str) -> None:
    """plain() (with its shortcut for text that is already clean) is exactly: control
    characters to spaces, then runs of white space to one space, none at the ends."""
    assert plain(text) == " ".join(_CONTROL.sub(" ", text).split())


def test_times_are_in_the_given_zone_and_in_english() -> None:
    """23:30 UTC on 5 Jan is 00:30 on 6 Jan in Berlin; hours and minutes are zero-padded."""
    moment = datetime(2027, 1, 5, 23, 30, tzinfo=UTC)
    assert short_time(moment, BERLIN) == "6 Jan 00:30"
    assert long_time(moment, BERLIN) == "Wed 6 Jan 00:30"
    assert full_time(moment, BERLIN) == "Wed 6 Jan 2027 00:30"
    assert long_time(datetime(2027, 7, 1, 9, 5, tzinfo=BERLIN), BERLIN) == "Thu 1 Jul 09:05"
