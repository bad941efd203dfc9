"""``ooo run``: the responder in the foreground (the daemon a service manager starts)."""

from __future__ import annotations

import argparse
import logging
import os

from ooo import __version__
from ooo.cli.common import SubParsers, add_command, load_config

log = logging.getLogger("ooo")


def register(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    run = add_command(sub, common, "run", cmd_run, help="run the responder in the foreground")
    run.add_argument(
        "--once", action="store_true", help="process everything pending, send what is due, and exit"
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="decide and render, but send nothing and change nothing",
    )


def cmd_run(args: argparse.Namespace) -> int:
    from ooo.daemon import Daemon
    from ooo.host import logs

    cfg = load_config(args)
    logfile = logs.add_file(logs.default_log_dir(cfg.state.dir))
    log.info("ooo %s (pid %d): config %s, log %s", __version__, os.getpid(), cfg.path, logfile)
    return Daemon(cfg, once=args.once, dry_run=args.dry_run).run()
