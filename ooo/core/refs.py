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
# As people type it back: "OOO-7K3Q9M", "#OOO7K3Q9M" (the hashtag in "ask there" links),
# "ooo 7k3q9m", "000-7K3Q9M". Crockford's decoding maps O to 0 and I/L to 1 in the code.
# ASCII: Unicode case folding would let a Kelvin sign pass for a K.
PATTERN = re.compile(
    r"(?<![0-9A-Z])[O0]{3}[-\s]?([0-9A-Z]{6})(?![0-9A-Z])", re.IGNORECASE | re.ASCII
)
_DECODE = str.maketrans("OIL", "011")


def find_refs(text: str) -> list[str]:
    """Every reference mentioned in ``text`` (subject or body), normalised to ``OOO-XXXXXX``."""
    found = []
    for code in PATTERN.findall(text):
        code = code.upper().translate(_DECODE)
        if "U" not in code:
            found.append("OOO-" + code)
    return list(dict.fromkeys(found))


def new_ref(exists: Callable[[str], bool], choice: Callable[[str], str] | None = None) -> str:
    """A reference not yet in use (``exists`` asks the store). ``choice`` (a test's) picks
    each character; by default all six come from one read of the system's random source (a
    byte modulo 32 is uniform, as 256 is a multiple of 32), not one read per character."""
    while True:
        if choice is None:
            code = "".join(ALPHABET[b % len(ALPHABET)] for b in secrets.token_bytes(LENGTH))
        else:
            code = "".join(choice(ALPHABET) for _ in range(LENGTH))
        ref = "OOO-" + code
        if not exists(ref):
            return ref
