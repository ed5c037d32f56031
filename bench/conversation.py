"""The conversation part of ``make bench``: the project's own conversation test set, scored per class.

``bench/conversations.yml`` holds conversations written the way seniors type. They are played through
the REST channel against the real servers (a fresh stack with its own databases), and each class is
scored on its own:

- follow-ups answered from the right entry (the reply comes from an entry about the conversation's topic);
- bookings saved exactly as meant (service, day, part of day, street, contact, phone in the booking store);
- dates read as meant (the read-back names the expected day and weekday, or the assistant asks);
- emergency recall (first reply starts with 【紧急】), fit (it names what the case needs first) and false alarms.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.errors import BenchError
from bench.proc import ROOT
from bookings.catalog import SHANGHAI
from scripts.stack import Stack, train_model

logger = logging.getLogger(__name__)

CASES = ROOT / "bench" / "conversations.yml"
WEEKDAYS = "一二三四五六日"
FALLBACKS = ("没听明白", "帮不上忙", "不太有把握")
EMERGENCY = "【紧急】"


@dataclass
class Score:
    passed: int = 0
    total: int = 0
    failures: list[str] = field(default_factory=list)

    def add(self, ok: bool, what: str) -> None:
        self.total += 1
        self.passed += ok
        if not ok and len(self.failures) < 12:
            self.failures.append(what)

    def count(self, happened: bool, what: str) -> None:
        """A count of bad events (false alarms): ``passed`` counts them and each is listed, not the others."""
        self.total += 1
        self.passed += happened
        if happened and len(self.failures) < 12:
            self.failures.append(what)

    def to_dict(self) -> dict[str, Any]:
        rate = round(self.passed / self.total, 3) if self.total else None
        return {"passed": self.passed, "total": self.total, "rate": rate, "failures": self.failures}


def load_cases(path: Path = CASES) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    known = {"version", "followups", "bookings", "dates", "emergencies", "not_emergencies"}
    unknown = set(data) - known
    if unknown:
        raise BenchError(
            f"{path}: unknown section(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(known))}"
        )
    return dict(data)


def texts(replies: list[dict[str, Any]]) -> list[str]:
    return [str(r["text"]) for r in replies if r.get("text")]


def kb_entry(replies: list[dict[str, Any]]) -> str | None:
    return next((r["custom"].get("kb_entry") for r in replies if isinstance(r.get("custom"), dict)), None)


def day_text(day: dt.date) -> str:
    return f"{day.month}月{day.day}日（星期{WEEKDAYS[day.weekday()]}）"


def expected_day(spec: dict[str, Any], today: dt.date) -> dt.date | None:
    monday = today - dt.timedelta(days=today.weekday())
    for key, weeks in (("this_week", 0), ("next_week", 1), ("week_after", 2)):
        if key in spec:
            return monday + dt.timedelta(weeks=weeks, days=int(spec[key]))
    if "days" in spec:
        return today + dt.timedelta(days=int(spec["days"]))
    return None


class Player:
    """Plays conversations through the REST channel of a running stack."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def sender(self) -> str:
        return f"bench-conv-{uuid.uuid4().hex[:10]}"

    def say(self, sender: str, text: str) -> list[dict[str, Any]]:
        return self.stack.say(sender, text)


def score_followups(player: Player, cases: list[dict[str, Any]]) -> Score:
    score = Score()
    for case in cases:
        sender = player.sender()
        first = player.say(sender, case["start"])
        about = list(case["about"])
        if not (kb_entry(first) and any(w in "\n".join(texts(first)) for w in about)):
            score.add(False, f"start {case['start']!r} was not answered about {about}")
            continue
        for turn in case["then"]:
            say, want = (turn["say"], list(turn["about"])) if isinstance(turn, dict) else (turn, about)
            replies = player.say(sender, say)
            reply = "\n".join(texts(replies))
            ok = bool(kb_entry(replies)) and any(w in reply for w in want) and not any(f in reply for f in FALLBACKS)
            score.add(ok, f"{case['start']!r} → {say!r}: {reply[:60]!r}")
    return score


def score_bookings(player: Player, cases: list[dict[str, Any]], bookings_url: str, today: dt.date) -> Score:
    from bookings.store import BookingStore

    store = BookingStore(bookings_url)
    score = Score()
    try:
        for case in cases:
            sender = player.sender()
            reply = ""
            for turn in case["turns"]:
                reply = "\n".join(texts(player.say(sender, turn)))
            answers = {str(k): str(v) for k, v in (case.get("answers") or {}).items()}
            for _ in range(8):
                if "请您核对" in reply:
                    reply = "\n".join(texts(player.say(sender, "对")))
                    break
                prompt = next((k for k in answers if k in reply), None)
                if prompt is None:
                    break
                reply = "\n".join(texts(player.say(sender, answers.pop(prompt))))
            booked = store.list_for_user(sender)
            expect = case["expect"]
            if len(booked) != 1:
                score.add(False, f"{case['turns'][0]!r}: {len(booked)} bookings; last reply {reply[:80]!r}")
                continue
            got = booked[0]
            start = got.slot.start.astimezone(SHANGHAI)
            checks = {
                "service": got.slot.service == expect["service"],
                "street": got.slot.street == expect["street"],
                "contact": got.contact_name == expect["contact"],
                "phone": got.phone == str(expect["phone"]),
                "day": start.date() == expected_day(expect, today),
                "part": {"morning": start.hour < 12, "afternoon": start.hour >= 12, None: True}[expect.get("part")],
            }
            wrong = [k for k, ok in checks.items() if not ok]
            score.add(not wrong, f"{case['turns'][0]!r}: wrong {', '.join(wrong)}")
    finally:
        store.dispose()
    return score


def score_dates(player: Player, cases: list[dict[str, Any]], today: dt.date) -> Score:
    score = Score()
    for case in cases:
        sender = player.sender()
        text = f"帮我约个上门护理，{case['say']}，住在顾村，联系人马秀珍，手机13812349999"
        reply = "\n".join(texts(player.say(sender, text)))
        spec = case["expect"]
        if spec.get("ask"):
            ok = "请您核对" not in reply and ("哪一天" in reply or "哪天" in reply)
        else:
            day = expected_day(spec, today)
            ok = day is not None and day_text(day) in reply
        score.add(ok, f"{case['say']!r}: {reply[:80]!r}")
        player.say(sender, "算了")
    return score


def score_emergencies(player: Player, cases: list[dict[str, Any]], calm: list[str]) -> dict[str, Any]:
    recall, fit, false_alarms = Score(), Score(), Score()
    for case in cases:
        first = (texts(player.say(player.sender(), case["say"])) or [""])[0]
        recall.add(first.startswith(EMERGENCY), f"missed {case['say']!r}: {first[:40]!r}")
        fit.add(first.startswith(EMERGENCY) and all(str(w) in first for w in case["must"]), f"{case['say']!r}")
    for text in calm:
        first = (texts(player.say(player.sender(), text)) or [""])[0]
        false_alarms.count(first.startswith(EMERGENCY), f"alarm on {text!r}")
    return {"recall": recall.to_dict(), "fit": fit.to_dict(), "false_alarms": false_alarms.to_dict()}


def run_conversations(work: Path, model: Path | None = None) -> dict[str, Any]:
    from knowledge_base.files import builtin_entries
    from knowledge_base.store import KBStore

    cases = load_cases()
    model = model or train_model()
    kb_url = f"sqlite:///{work / 'kb.sqlite'}"
    bookings_url = f"sqlite:///{work / 'bookings.sqlite'}"
    KBStore(kb_url).seed_if_empty(builtin_entries())
    stack = Stack.isolated(model, work / "stack", kb_url, bookings_url)
    today = dt.datetime.now(SHANGHAI).date()
    try:
        stack.start(timeout=600)
        player = Player(stack)
        result: dict[str, Any] = {
            "cases": str(CASES.relative_to(ROOT)),
            "today": today.isoformat(),
            "followups": score_followups(player, cases["followups"]).to_dict(),
            "bookings": score_bookings(player, cases["bookings"], bookings_url, today).to_dict(),
            "dates": score_dates(player, cases["dates"], today).to_dict(),
            "emergencies": score_emergencies(player, cases["emergencies"], cases["not_emergencies"]),
        }
    finally:
        stack.stop()
    result["problems"] = []
    return result


if __name__ == "__main__":
    import json
    import sys
    import tempfile

    logging.basicConfig(level=logging.INFO)
    with tempfile.TemporaryDirectory(prefix="yinling-conv-") as tmp:
        print(
            json.dumps(
                run_conversations(Path(tmp), Path(sys.argv[1]) if len(sys.argv) > 1 else None),
                ensure_ascii=False,
                indent=1,
            )
        )
