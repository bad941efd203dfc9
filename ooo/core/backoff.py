"""How long to wait before trying again: the one backoff rule, for reconnecting to a mailbox
(ooo.daemon) and for retrying a queued reply (ooo.engine)."""

from __future__ import annotations

from collections.abc import Callable


def backoff(attempt: int, first: float, cap: float, rng: Callable[[], float]) -> float:
    """Seconds before try number ``attempt`` (1: the first retry): ``first`` doubling up to
    ``cap``, with +-25 % jitter (``rng`` gives [0, 1)) so a fleet does not retry in step."""
    base = min(cap, first * 2.0 ** max(0, attempt - 1))
    return base * (0.75 + 0.5 * rng())
