"""The pure core: what ooo decides and writes, as functions of data.

Nothing here opens a socket or a file, reads the clock, starts a process or keeps state
between calls: ``now`` is passed in, templates come in as a ``render`` callable, and the shell
(ooo.mailbox, ooo.transport, ooo.store, ooo.engine, ooo.daemon, ooo.app) does all the I/O.
tests/unit/core/test_purity.py proves that importing the core loads no mail, network,
database, keyring or process library.
"""
