"""A care scheduler/worker process for the multi-process tests, with its clock fixed from the command line.

    python -m tests.app.care_proc MODE DATABASE_URL NOW_ISO TELEGRAM_BASE STAFF_URL [GO_FILE]

Settings come from the environment (CARE_*; SMS_GATEWAY_URL adds the SMS sender for grid workers).

round            wait for GO_FILE, then 20 rounds of scheduler + worker (what `python -m care run` does)
commit-and-hang  run the scheduler (messages committed to the outbox), say so, then hang before sending
claim-and-hang   claim the first due message (a lease), say so, then hang before sending
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

from care.config import CareSettings
from care.db import CareDB
from care.outbox import Worker
from care.scheduler import Scheduler
from care.senders import Sender, Senders, SmsSender, StaffCaseSender, TelegramSender


def main() -> int:
    mode, url, now_iso, telegram, staff_url = sys.argv[1:6]
    now = dt.datetime.fromisoformat(now_iso)
    db = CareDB(url, clock=lambda: now)
    found: dict[str, Sender] = {"telegram:": TelegramSender("1:TEST", telegram), "staff:": StaffCaseSender(staff_url)}
    if os.environ.get("SMS_GATEWAY_URL"):  # grid workers' SMS (CARE_GRID_WORKERS_FILE names them)
        found["sms:"] = SmsSender(os.environ["SMS_GATEWAY_URL"], os.environ.get("SMS_GATEWAY_TOKEN", ""))
    scheduler, worker = Scheduler(db, CareSettings.from_env()), Worker(db, Senders(found))
    if mode == "round":
        go = Path(sys.argv[6])
        while not go.exists():
            time.sleep(0.005)
        jobs = sent = 0
        for _ in range(20):
            jobs += scheduler.run_once()
            sent += worker.run_once()
        print(f"jobs={jobs} sent={sent}", flush=True)
        return 0
    if mode == "commit-and-hang":
        print(f"committed jobs={scheduler.run_once()}", flush=True)
    elif mode == "claim-and-hang":
        due = worker._due_ids(1)
        print(f"claimed={worker.claim(due[0]) is not None}", flush=True)
    time.sleep(3600)
    return 1


if __name__ == "__main__":
    sys.exit(main())
