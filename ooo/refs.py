"""Inquiry references such as ``OOO-7K3Q9M``: short, unambiguous, unguessable.

Crockford's base32 alphabet (no I, L, O, U) so a reference read aloud or typed from a phone
survives; six characters give about a billion values, so one sender cannot guess another's.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 6
PATTERN = re.compile(r"\bOOO-([0-9A-HJKMNP-TV-Z]{6})\b", re.IGNORECASE)


def new_ref(exists: Callable[[str], bool], choice: Callable[[str], str] = secrets.choice) -> str:
    """A reference not yet in use (``exists`` asks the store)."""
    while True:
        ref = "OOO-" + "".join(choice(ALPHABET) for _ in range(LENGTH))
        if not exists(ref):
            return ref


def find_refs(text: str) -> list[str]:
    """Every reference mentioned in ``text`` (subject or body), normalised to upper case."""
    return ["OOO-" + m.upper() for m in PATTERN.findall(text)]
