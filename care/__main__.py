"""``python -m care run``: the scheduler and the outbox worker in one loop (``make run`` supervises it).

Any number of these may run against one database: jobs and messages are claimed by
compare-and-set updates, so each is handled by one of them.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time

from common.redact import install as install_redaction


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m care", description="Proactive care: scheduler and sender.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the scheduler and the outbox worker until stopped")
    run.add_argument("--once", action="store_true", help="one round, then exit")
    args = parser.parse_args(argv)

    install_redaction()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from care.config import CareSettings
    from care.db import CareDB
    from care.errors import CareConfigError, CareUnavailable
    from care.outbox import RetryPolicy, Worker
    from care.scheduler import Scheduler
    from care.senders import Senders

    try:
        settings = CareSettings.from_env()
        db = CareDB()
    except (CareConfigError, CareUnavailable) as err:
        print(f"care: {err}", file=sys.stderr)
        return 2
    scheduler = Scheduler(db, settings)
    worker = Worker(db, Senders.from_env(), RetryPolicy(settings.max_attempts, settings.backoff_seconds))
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.getLogger("care").info("Care scheduler and worker started (%s).", worker.owner)
    while not stopping:
        try:
            jobs = scheduler.run_once()
            sent = worker.run_once()
            if jobs or sent:
                logging.getLogger("care").info("Round: %d jobs, %d messages sent.", jobs, sent)
        except CareUnavailable as err:
            logging.getLogger("care").warning("Database busy or down (%s); trying again.", type(err).__name__)
        if args.once:
            break
        time.sleep(settings.poll_seconds)
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
