"""Unanswered questions: masked before storing, grouped by meaning (purity on 300 paraphrases), status kept, retention."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from staff import synthetic
from staff.db import StaffDB, unanswered
from staff.errors import InvalidInput
from staff.masking import mask
from staff.unanswered import (
    DISTANCE_THRESHOLD,
    Unanswered,
    choose_threshold,
    cluster,
    declined,
    default_embed,
    inverse_purity,
    purity,
    unhelpful,
)

START = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Unanswered]:
    db = StaffDB(f"sqlite:///{tmp_path / 'staff.sqlite'}")
    yield Unanswered(db)
    db.dispose()


@pytest.fixture(scope="module")
def dev_vectors() -> tuple[np.ndarray, list[str]]:
    from staff.masking import mask

    pairs = synthetic.split("dev")
    return default_embed([mask(t) for t, _ in pairs]), [topic for _, topic in pairs]


def test_the_300_test_paraphrases_of_10_topics_are_grouped_with_purity_at_least_0_9(store: Unanswered) -> None:
    pairs = synthetic.split("test")
    assert len(pairs) == 300 and len({t for _, t in pairs}) == 10
    times = synthetic.spread(len(pairs), START)
    store.record_many([(text, "kb_below_threshold", at) for (text, _), at in zip(pairs, times)])
    topic_of = dict(zip(range(1, len(pairs) + 1), (topic for _, topic in pairs)))  # ids follow insertion order

    groups = store.groups(since=START - dt.timedelta(days=1))

    labels, truth = [], []
    for number, group in enumerate(groups):
        for message_id in group.ids:
            labels.append(number)
            truth.append(topic_of[message_id])
    assert len(labels) == 300
    assert purity(labels, truth) >= 0.9
    # Not one group per message: each topic mostly in one group, and few groups in all.
    assert inverse_purity(labels, truth) >= 0.8
    assert len(groups) <= 25
    assert groups == sorted(groups, key=lambda g: -g.count)
    biggest = groups[0]
    assert biggest.first_seen <= biggest.last_seen and len(biggest.examples) <= 5


def test_the_distance_threshold_is_the_one_chosen_on_the_development_split(
    dev_vectors: tuple[np.ndarray, list[str]],
) -> None:
    vectors, truth = dev_vectors
    chosen, report = choose_threshold(vectors, truth)
    assert chosen == DISTANCE_THRESHOLD, report


def test_personal_data_is_masked_before_it_is_stored(store: Unanswered) -> None:
    store.record("我叫张建国，电话13916571234，住盘古路100弄5号，长护险哪能申请", "nlu_fallback", "webchat")
    with store.db.read() as conn:
        stored = conn.execute(sa.select(unanswered.c.text)).scalar_one()
    assert "13916571234" not in stored and "张建国" not in stored and "盘古路100弄" not in stored
    assert stored == "我叫【姓名】，电话【手机号】，住【地址】，长护险哪能申请"


def test_an_unknown_reason_is_refused_and_nothing_is_stored(store: Unanswered) -> None:
    with pytest.raises(InvalidInput):
        store.record("长护险", "whatever")
    assert store.count() == 0


def test_a_dismissed_group_is_kept_dismissed_and_marked_when_it_comes_back(store: Unanswered) -> None:
    noise = synthetic.TOPICS["square_dance_noise"]
    bus = synthetic.TOPICS["free_bus"]
    store.record_many([(t, "nlu_fallback", START + dt.timedelta(hours=i)) for i, t in enumerate(noise[:4])])
    store.record_many([(t, "nlu_fallback", START + dt.timedelta(hours=i)) for i, t in enumerate(bus[:3])])
    groups = store.groups()
    noise_group = next(g for g in groups if any("跳" in e or "舞" in e for e in g.examples))
    assert noise_group.status == "open" and not noise_group.returned

    assert store.mark(noise_group.open_ids, "dismissed", "admin1") == len(noise_group.open_ids)
    after = next(g for g in store.groups() if set(noise_group.ids) <= set(g.ids))
    assert after.status == "dismissed" and not after.returned and after.open_ids == []
    # Handled groups are listed after open ones.
    assert store.groups()[-1].status == "dismissed"

    store.record("楼下广场舞音乐太响吵得睡不着觉", "kb_below_threshold", at=dt.datetime.now(dt.timezone.utc))
    again = next(g for g in store.groups() if set(noise_group.ids) <= set(g.ids))
    assert again.returned and len(again.open_ids) == 1
    assert store.groups()[0].returned  # a come-back group is listed with the open ones


def test_marking_needs_a_handled_status(store: Unanswered) -> None:
    with pytest.raises(InvalidInput):
        store.mark([1], "open", "admin1")
    with pytest.raises(InvalidInput):
        store.mark([], "dismissed", "admin1")


def test_retention_deletes_only_messages_older_than_the_period(store: Unanswered) -> None:
    now = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    store.record_many(
        [
            ("老年大学怎么报名", "nlu_fallback", now - dt.timedelta(days=181)),
            ("医保卡丢了怎么补办", "nlu_fallback", now - dt.timedelta(days=179)),
            ("敬老卡坐公交免费吗", "nlu_fallback", now - dt.timedelta(days=1)),
        ]
    )
    assert store.purge(180, at=now) == 1
    assert store.count() == 2
    assert store.purge(30, at=now) == 1
    assert store.texts([3]) == ["敬老卡坐公交免费吗"]


def test_clustering_scales_past_the_direct_limit_through_micro_groups() -> None:
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(8, 384)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    truth = np.repeat(np.arange(8), 400)
    noise = rng.normal(scale=0.01, size=(len(truth), 384)).astype(np.float32)
    vectors = centres[truth] + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = cluster(vectors)
    assert purity(labels, truth) == 1.0 and inverse_purity(labels, truth) == 1.0


@pytest.mark.parametrize(
    "text",
    [
        *("不对", "没用", "听不懂", "不是这个啊", "讲的不对。", "你说得不对", "不对不对", "这个不对", "不是这个意思"),
        *("答非所问", "你说的不是我问的", "牛头不对马嘴", "这个没用啊", "讲的啥我听不懂", "你没听懂我的话", "乱讲"),
        *("不是我要的", "看不懂", "侬讲的啥物事？", "哎呀，你刚才讲的完全不对！", "乱讲，看不懂", "你在说什么呀"),
        *("說了等於沒說", "根本不是我想问的", "你答的驴唇不对马嘴", "我问的不是这个", "看得我一头雾水", "白问了"),
    ],
)
def test_complaints_after_an_answer_are_recognised(text: str) -> None:
    assert unhelpful(text)


@pytest.mark.parametrize(
    "text",
    [
        *("不对，是下午", "长护险没用完怎么办", "听不懂上海话的护工有吗", "看不懂药品说明书怎么办", "没关系"),
        *("不用了", "我搞错了", "你说的对", "没错", "不行", "算了", "谢谢", "乱讲" * 30),
    ],
)
def test_other_messages_are_not_complaints(text: str) -> None:
    assert not unhelpful(text)


@pytest.mark.parametrize(
    "text", ["不用了", "不用了，谢谢", "没有了", "覅了", "暂时不要", "我再想想", "好的，不用麻烦了"]
)
def test_a_plain_no_thanks_is_a_decline(text: str) -> None:
    assert declined(text) and not unhelpful(text)


def test_reading_complaints_is_quick_on_long_and_repetitive_input() -> None:
    started = time.perf_counter()
    for text in ("这" * 5000, "不对" * 19 + "吗?", "你说的" * 13 + "x", "是这个那个都" * 6 + "x", "了" * 1000):
        unhelpful(text)
        declined(text)
    assert time.perf_counter() - started < 0.5


def test_the_action_servers_hook_keeps_the_message_masked_after_the_reply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from staff import unanswered as module

    monkeypatch.setenv("STAFF_DATABASE_URL", f"sqlite:///{tmp_path / 'hook.sqlite'}")
    monkeypatch.setattr(module, "_reporter", None)
    module.report("广场舞太吵了，我电话13912345678", "nlu_fallback", "web-0123abcd", intent="nlu_fallback")
    module.report("长护险", "no-such-reason", "web-0123abcd")  # refused inside, never raised to the action
    module._background.submit(lambda: None).result(timeout=60)  # the thread works in order: both are done
    kept = module.reporter()
    with kept.db.read() as conn:
        rows = conn.execute(sa.select(unanswered.c.text, unanswered.c.channel, unanswered.c.intent)).all()
    kept.db.dispose()
    assert [tuple(r) for r in rows] == [("广场舞太吵了，我电话【手机号】", "webchat", "nlu_fallback")]


def _conversation(
    *turns: tuple[str, str, str | None], entities: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Tracker events: (user text, intent, the KB entry the bot answered with or None for a plain reply);
    ``entities`` are the last message's."""
    events: list[dict[str, Any]] = []
    for i, (text, intent, entry) in enumerate(turns):
        found = entities if entities is not None and i == len(turns) - 1 else []
        parse = {"text": text, "intent": {"name": intent, "confidence": 0.93}, "entities": found}
        events.append({"event": "user", "text": text, "parse_data": parse, "timestamp": 10.0 * i})
        if entry is not None or i < len(turns) - 1:
            custom = {"kb_entry": entry, "score": 0.9, "confident": True} if entry else None
            events.append({"event": "bot", "text": "……", "data": {"custom": custom}, "timestamp": 10.0 * i + 1})
    return events


def _deny(
    events: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, action: str = "action_deny"
) -> tuple[list[str], list[Any]]:
    """Run action_deny (or another action that checks for complaints) on the last user message; the
    responses said and the unanswered rows kept."""
    import asyncio

    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    from staff import unanswered as module

    monkeypatch.setenv("YINLING_WARM_KB", "0")
    monkeypatch.setenv("STAFF_DATABASE_URL", f"sqlite:///{tmp_path / 'deny.sqlite'}")
    monkeypatch.setattr(module, "_reporter", None)
    from actions.knowledge import ActionDeny, ActionFallbackKnowledge, ActionKnowledgeAnswer, ActionOutOfScope

    run = {a().name(): a() for a in (ActionDeny, ActionFallbackKnowledge, ActionKnowledgeAnswer, ActionOutOfScope)}
    latest = events[-1]["parse_data"]
    tracker = Tracker("wechat:oSenior7", {}, latest, events, False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()
    assert asyncio.run(run[action].run(dispatcher, tracker, {})) == []
    module._background.submit(lambda: None).result(timeout=60)  # the report thread works in order: done
    kept = module.reporter()
    with kept.db.read() as conn:
        rows = conn.execute(
            sa.select(unanswered.c.text, unanswered.c.reason, unanswered.c.kb_entry, unanswered.c.intent)
        ).all()
    kept.db.dispose()
    return [str(m.get("response")) for m in dispatcher.messages], list(rows)


@pytest.mark.parametrize(
    "complaint",
    [
        *("不对", "没用", "听不懂", "你说的不对", "不是这个意思", "答非所问", "你说的不是我问的", "讲的啥我听不懂"),
        # read as deny by the classifier, though not in the complaint table: any "no" after an answer
        *("这回答不行", "你这讲得不着调", "不是", "我问东你答西"),
    ],
)
def test_a_complaint_right_after_a_kb_answer_keeps_the_question_masked_and_offers_help(
    complaint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    events = _conversation(
        ("长护险怎么申请，我电话13912345678", "ask_insurance", "care-ltc"), (complaint, "deny", None)
    )
    said, rows = _deny(events, monkeypatch, tmp_path)
    assert said == ["utter_unhelpful"]
    assert [tuple(r) for r in rows] == [("长护险怎么申请，我电话【手机号】", "unhelpful", "care-ltc", "ask_insurance")]


def test_no_after_something_else_than_a_kb_answer_is_a_plain_no_and_nothing_is_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The bot's last message was a greeting, not a knowledge answer.
    said, rows = _deny(_conversation(("侬好", "greet", None), ("不对", "deny", None)), monkeypatch, tmp_path)
    assert said == ["utter_deny_ack"] and rows == []
    # A "no" that is not a complaint ("不用了") after a KB answer is not one either.
    for decline in ("不用了", "没有了，谢谢", "覅了", "暂时不要"):
        said, rows = _deny(
            _conversation(("长护险怎么申请", "ask_insurance", "care-ltc"), (decline, "deny", None)),
            monkeypatch,
            tmp_path,
        )
        assert said == ["utter_deny_ack"] and rows == [], decline
    # Nor is a correction of a value (the NLU found an entity in it).
    when = [{"entity": "datetime", "value": "下午", "start": 3, "end": 5}]
    said, rows = _deny(
        _conversation(("长护险怎么申请", "ask_insurance", "care-ltc"), ("不对，是下午", "deny", None), entities=when),
        monkeypatch,
        tmp_path,
    )
    assert said == ["utter_deny_ack"] and rows == []


@pytest.mark.parametrize(
    ("complaint", "intent", "action"),
    [
        ("答非所问", "stop", "action_kb_answer"),  # a model without the complaint rule: stop, or a follow-up
        ("你没听懂我的话", "ask_followup", "action_kb_answer"),
        ("乱讲", "nlu_fallback", "action_fallback_kb"),
        ("牛头不对马嘴", "out_of_scope", "action_out_of_scope"),
    ],
)
def test_a_complaint_the_nlu_read_otherwise_is_kept_by_whichever_action_it_reached(
    complaint: str, intent: str, action: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    events = _conversation(("长护险怎么申请", "ask_insurance", "care-ltc"), (complaint, intent, None))
    said, rows = _deny(events, monkeypatch, tmp_path, action)
    assert said == ["utter_unhelpful"]
    assert [tuple(r) for r in rows] == [("长护险怎么申请", "unhelpful", "care-ltc", "ask_insurance")]


# -- a turn that got only the apology (the action server was down): the staff app keeps it ----------

SILENT_CASES: list[tuple[list[dict[str, Any]], str]] = [
    *(
        (
            _conversation(("长护险怎么申请，我电话13912345678", "ask_insurance", "care-ltc"), (c, "deny", None)),
            "action_deny",
        )
        for c in ("不对", "没用", "你说的不是我问的", "这回答不行", "不是")
    ),
    *(
        (_conversation(("长护险怎么申请", "ask_insurance", "care-ltc"), (d, "deny", None)), "action_deny")
        for d in ("不用了", "覅了")
    ),
    (_conversation(("侬好", "greet", None), ("不对", "deny", None)), "action_deny"),
    (
        _conversation(
            ("长护险怎么申请", "ask_insurance", "care-ltc"),
            ("不对，是下午", "deny", None),
            entities=[{"entity": "datetime", "value": "下午", "start": 3, "end": 5}],
        ),
        "action_deny",
    ),
    (
        _conversation(("长护险怎么申请", "ask_insurance", "care-ltc"), ("乱讲", "nlu_fallback", None)),
        "action_fallback_kb",
    ),
    (_conversation(("长护险怎么申请", "ask_insurance", "care-ltc"), ("答非所问", "stop", None)), "action_kb_answer"),
]


@pytest.mark.parametrize(("events", "action"), SILENT_CASES)
def test_a_silent_turn_keeps_what_the_action_server_would_have_kept(
    events: list[dict[str, Any]], action: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from staff.unanswered import missed_in

    _, rows = _deny(events, monkeypatch, tmp_path, action)
    missed = missed_in(events)
    kept = [] if missed is None else [(mask(missed.text), missed.reason, missed.kb_entry, missed.intent)]
    assert kept == [tuple(r) for r in rows]


def test_a_silent_turn_keeps_a_message_the_nlu_did_not_understand_but_never_a_button() -> None:
    from staff.unanswered import missed_in

    missed = missed_in(_conversation(("侬好", "greet", None), ("阿拉屋里厢那个啥子弄弄", "nlu_fallback", None)))
    assert missed is not None and (missed.text, missed.reason) == ("阿拉屋里厢那个啥子弄弄", "nlu_fallback")
    assert missed_in(_conversation(("侬好", "greet", None), ("/nlu_fallback", "nlu_fallback", None))) is None
    assert missed_in(_conversation(("长护险怎么申请", "ask_insurance", None))) is None  # understood: nothing to keep
    assert missed_in([]) is None
    # The latest message was answered (the one that failed never reached the tracker): nothing is kept twice.
    answered = _conversation(("侬好", "greet", None), ("阿拉屋里厢那个啥子弄弄", "nlu_fallback", None))
    answered.append({"event": "bot", "text": "不好意思，我没听明白。", "data": {}, "timestamp": 99.0})
    assert missed_in(answered) is None
