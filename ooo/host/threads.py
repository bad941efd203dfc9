"""Names for the threads ooo starts.

A thread started by another is named after it: ``<parent's name>/<role>``. In one ``ooo run``
for several accounts each account's thread is ``ooo:<account>``, so the threads it starts
(SMTP sends, network watchers, the config watcher, the sleep hook, Exchange's stream) carry the
account's name too, and the lines they log are tagged with it like the account thread's own
(:class:`ooo.accounts.AccountLogFilter`).
"""

from __future__ import annotations

import threading


def child_name(role: str) -> str:
    """The name for a thread the current thread starts to do ``role``."""
    return f"{threading.current_thread().name}/{role}"
