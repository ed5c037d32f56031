"""Follow-ups keep the topic: aspects, topic words, and answers resolved against the conversation's entry.

Uses the real knowledge base and the real retrieval (no mocks). Phrasings here are kept out of the
training data and the entries' question variants.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from actions.knowledge import Context, resolve
from actions.menus import MENU_RESPONSES
from knowledge_base.followup import aspect_named, is_followup, read, same_subject, street_only
from knowledge_base.retrieval import LiveIndex
from yinling.places import STREETS


@pytest.mark.parametrize(
    ("text", "aspect"),
    [
        ("那要带啥材料?", "documents"),
        ("证件要带哪几样", "documents"),
        ("去哪里办?", "place"),
        ("在啥地方弄", "place"),
        ("要钱伐?", "fees"),
        ("交多少钞票", "fees"),
        ("几点开门", "hours"),
        ("礼拜天开伐", "hours"),
        ("打啥电话", "phone"),
        ("哪能弄", "how_to"),
        ("要啥条件", "eligibility"),
        ("我姆妈能办伐", "eligibility"),
    ],
)
def test_bare_follow_ups_ask_an_aspect_and_name_no_topic(text: str, aspect: str) -> None:
    reading = read(text)
    assert reading.bare and reading.aspect is not None and reading.aspect.name == aspect


@pytest.mark.parametrize("text", ["长护险要带啥材料", "遗嘱公证要多少钱", "助浴点几点开门", "沪惠保哪能买"])
def test_a_question_that_names_its_topic_is_not_bare(text: str) -> None:
    assert not read(text).bare


@pytest.mark.parametrize(
    ("text", "topic"), [("那沪惠保呢?", "沪惠保"), ("还有意定监护呢", "意定监护"), ("那助餐呢", "助餐")]
)
def test_that_one_asks_about_another_topic(text: str, topic: str) -> None:
    assert read(text).other_topic == topic


def test_that_one_about_another_person_stays_on_the_entry() -> None:
    assert read("那我老伴呢").bare


def _about_ltci(index: LiveIndex, entry_id: str | None) -> bool:
    return entry_id is not None and "长护" in index.entries[entry_id].title + index.entries[entry_id].answer


def _context(index: LiveIndex, entry_id: str, aspect: str | None = None) -> Context:
    return Context(topic=index.entries[entry_id], aspect=aspect_named(aspect))


def test_documents_come_from_the_topic_not_from_the_whole_kb(index: LiveIndex) -> None:
    # The issue: after 长护险, "那要带啥材料?" got the documents of an inheritance notarization.
    first = resolve(index, "我想问问长护险哪能申请", Context())
    assert first.reply.confident and _about_ltci(index, first.reply.entry_id)
    assert first.reply.entry_id is not None
    for follow_up in ("那要带啥材料?", "要准备点啥证件", "材料有哪些"):
        then = resolve(index, follow_up, _context(index, first.reply.entry_id))
        assert _about_ltci(index, then.reply.entry_id), (follow_up, then)
        assert "要带的材料" in then.reply.text or "没有写" in then.reply.text
        assert "继承" not in then.reply.text


@pytest.mark.parametrize("follow_up", ["去哪里办?", "到啥地方去弄", "要钱伐?", "要自己掏钱吗", "打啥电话问"])
def test_place_fees_and_phone_follow_ups_are_answered_from_the_entry(index: LiveIndex, follow_up: str) -> None:
    entry_id = "ins-ltci-eligibility"
    then = resolve(index, follow_up, _context(index, entry_id))
    assert then.how in ("followup", "related", "missing", "ask_street"), then
    assert then.reply.confident and _about_ltci(index, then.reply.entry_id), then
    assert "帮不上忙" not in then.reply.text


def test_a_missing_field_says_so_and_points_to_a_person(index: LiveIndex) -> None:
    entry = next(e for e in index.entries.values() if not e.fields.get("hours") and e.collection == "legal")
    then = resolve(index, "几点钟开门", _context(index, entry.id))
    if then.how == "missing":
        assert "没有写" in then.reply.text and "12345" in then.reply.text
    else:
        assert then.how == "related" and then.reply.entry_id != entry.id


def test_that_one_asks_the_previous_aspect_of_a_new_topic(index: LiveIndex) -> None:
    start = resolve(index, "阿拉老头子想立个遗嘱要带点啥", Context())
    assert start.reply.entry_id and start.reply.entry_id.startswith("law-")
    then = resolve(index, "那意定监护呢", _context(index, start.reply.entry_id, "documents"))
    assert (
        then.how == "other_topic" and then.reply.entry_id and "guardian" in then.reply.entry_id
    ) or "监护" in then.reply.text


def test_a_new_topic_replaces_the_old_one(index: LiveIndex) -> None:
    then = resolve(index, "遗嘱公证要带啥材料", _context(index, "ins-ltci-eligibility"))
    assert then.how == "search" and then.reply.entry_id and then.reply.entry_id.startswith("law-")


@pytest.mark.parametrize("text", ["要带啥材料", "要带啥材料啊", "去哪里办", "要钱伐", "几点开门"])
def test_without_a_topic_a_bare_question_is_asked_back_not_guessed(index: LiveIndex, text: str) -> None:
    # The issue: "那要带啥材料?" got the documents of an inheritance notarization, confidently.
    then = resolve(index, text, Context())
    assert then.how == "unsure" and not then.reply.confident and then.reply.choices, then


# ---- more ways of asking, and answers that stay on the subject -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "aspect"),
    [
        ("需要啥东西", "documents"),
        ("那要准备点啥", "documents"),
        ("办一次多少钱", "fees"),
        ("多少钱一年", "fees"),
        ("一年交多少", "fees"),
        ("一个月多少钱", "fees"),
        ("几点开饭", "hours"),
        ("周末能去伐", "hours"),
        ("礼拜六开门吗", "hours"),
        ("离我近的在哪", "place"),
        ("找谁办", "place"),
        ("要等多久", "duration"),
        ("多久批下来", "duration"),
        ("大概多久能办好", "duration"),
        ("怎么买", "how_to"),
        ("啥病能赔", "coverage"),
    ],
)
def test_more_bare_follow_ups(text: str, aspect: str) -> None:
    reading = read(text)
    assert reading.bare and reading.aspect is not None and reading.aspect.name == aspect, reading


@pytest.mark.parametrize("text", ["助浴一次多少钱", "沪惠保一年交多少", "银护宝怎么买", "日间照料中心礼拜天开伐"])
def test_a_follow_up_shape_that_names_its_topic_is_not_bare(text: str) -> None:
    assert not read(text).bare


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("长护险怎么申请（照护评估）", "长护险评估要不要钱", True),
        ("遗嘱公证要带啥材料", "办公证大概要多少钱", True),
        ("意定监护是啥，啥人可以当监护人", "意定监护怎么办，要带啥材料", True),
        ("老年意外险保啥、几岁能买", "沪惠保啥人能买、啥辰光买、去哪里买", False),
        ("居家养老服务补贴", "长护险居家照护是什么", False),
        ("“银护宝”北上海养老护理员临工市场", "长护险居家照护自己要付多少钱", False),
    ],
)
def test_same_subject(first: str, second: str, same: bool) -> None:
    assert same_subject(first, second) is same


CONVERSATIONS = [
    ["长护险怎么申请", "要带什么证件", "在哪里办", "收费吗", "几点上班", "要等多久"],
    ["我想做个遗嘱公证", "需要啥东西", "办一次多少钱", "地址在哪", "周末能去伐"],
    ["助餐点有哪些", "几点开饭", "要钱伐", "电话多少"],
    ["老年人意外险有啥", "多少钱一年", "哪里买", "啥人能买"],
    ["日间照料中心是做啥的", "离我近的在哪", "礼拜天开伐", "一个月多少钱"],
    ["银护宝是什么", "怎么买", "多少钱"],
    ["意定监护是啥", "要带啥", "去哪办", "费用大概多少"],
    ["我想申请居家养老服务补贴", "要啥条件", "材料呢", "找谁办", "多久批下来"],
]


@pytest.mark.parametrize("turns", CONVERSATIONS, ids=[c[0] for c in CONVERSATIONS])
def test_follow_ups_are_answered_from_the_subject_or_say_it_is_not_written(index: LiveIndex, turns: list[str]) -> None:
    first = resolve(index, turns[0], Context())
    assert first.reply.confident and first.reply.entry_id, first
    topic = index.entries[first.reply.entry_id]
    for text in turns[1:]:
        then = resolve(index, text, Context(topic=topic, aspect=first.aspect))
        assert then.how in ("followup", "related", "missing", "ask_street"), (text, then)
        entry = index.entries[str(then.reply.entry_id)]
        assert entry.id == topic.id or same_subject(topic.title, entry.title), (text, entry.title)
        assert entry.street is None or entry.street == topic.street, (text, entry.id)
        # A sibling's answer does not move the conversation: the next follow-up is about the same topic.
        assert (then.topic_id or entry.id) == topic.id or then.how != "related", then
        if then.how == "missing":
            assert "没有写" in then.reply.text and "12345" in then.reply.text


def test_every_numbered_example_of_a_topic_menu_is_answered_with_confidence(index: LiveIndex) -> None:
    """ "3" after "您想问哪方面的养老服务？比如：…" asks the third example: each must find its entry."""
    responses = {}
    for path in (Path(__file__).resolve().parents[2] / "domain").glob("*.yml"):
        responses.update((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("responses") or {})
    for name in MENU_RESPONSES.values():
        examples = re.findall(r"^\d+\.\s*(.+)$", responses[name][0]["text"], re.MULTILINE)
        assert len(examples) >= 3, name
        for example in examples:
            then = resolve(index, example, Context())
            assert then.how == "search" and then.reply.confident, (name, example, then)


# ---- voice-input slips, Shanghainese, and the facets a senior asks about (issue 10) ------------------------------


@pytest.mark.parametrize(
    ("text", "aspect"),
    [
        ("带社么材料", "documents"),
        ("要户口本伐", "documents"),
        ("要前伐", "fees"),
        ("要铜钿伐", "fees"),
        ("铜钿要几化", "fees"),
        ("要加钱伐", "fees"),
        ("自己出多少", "fees"),
        ("要多就", "duration"),
        ("几点开们", "hours"),
        ("打啥点话", "phone"),
        ("去那里办", "place"),
        ("哪能去", "place"),
        ("网上能半伐", "online"),
        ("手机上好弄伐", "online"),
        ("我儿子能代办吗", "proxy"),
        ("要本人去伐", "proxy"),
        ("要排队伐", "booking"),
        ("啥人可以享受", "eligibility"),
        ("我妈八十五了能拿伐", "eligibility"),
    ],
)
def test_slips_and_shanghainese_are_read_as_the_aspect_they_ask(text: str, aspect: str) -> None:
    reading = read(text)
    assert reading.bare and reading.aspect is not None and reading.aspect.name == aspect, reading


@pytest.mark.parametrize("text", ["还有别的吗", "还有啥", "其他的呢", "还有啥要注意的"])
def test_what_else_is_a_request_for_more(text: str) -> None:
    assert read(text).more


@pytest.mark.parametrize("text", ["要排队伐", "要见证人伐", "有补贴伐"])
def test_a_yes_no_question_is_not_another_topic(text: str) -> None:
    assert read(text).other_topic is None


@pytest.mark.parametrize(
    ("text", "street"), [("顾村", "顾村镇"), ("我住在古村", "顾村镇"), ("是大场的", "大场镇"), ("罗店镇那边", "罗店镇")]
)
def test_a_street_said_alone(text: str, street: str) -> None:
    assert street_only(text) == street


@pytest.mark.parametrize("text", ["顾村镇受理中心在哪", "我住顾村 长护险哪能申请", "要带啥材料"])
def test_a_street_inside_a_question_is_not_a_street_alone(text: str) -> None:
    assert street_only(text) is None


@pytest.mark.parametrize(
    ("text", "followup"),
    [("要铜钿伐", True), ("啥人可以", True), ("那养老顾问呢", True), ("还有别的吗", True), ("侬好", False)],
)
def test_a_message_that_only_makes_sense_as_a_follow_up(text: str, followup: bool) -> None:
    assert is_followup(text) is followup


def test_a_place_that_depends_on_the_street_asks_for_the_street_then_answers_it(index: LiveIndex) -> None:
    asked = resolve(index, "去哪里办", _context(index, "svc-changhuxian-shenqing", "documents"))
    assert asked.how == "ask_street" and asked.reply.confident, asked
    assert all(f"{i}. {s}" in asked.reply.text for i, s in enumerate(STREETS, start=1))
    assert asked.aspect is not None and asked.aspect.name == "place"
    for said in ("顾村", "我住在古村", "顾村镇"):
        then = resolve(index, said, _context(index, "svc-changhuxian-shenqing", "place"))
        assert then.how == "street" and "顾村镇社区事务受理服务中心" in then.reply.text, then
        assert (then.topic_id or then.reply.entry_id) == "svc-changhuxian-shenqing"
        assert "021" not in then.reply.text and "12345" in then.reply.text


def test_a_known_street_is_used_instead_of_asking(index: LiveIndex) -> None:
    context = replace(_context(index, "svc-zhucan-basics"), home_street="淞南镇")
    then = resolve(index, "在哪", context)
    assert then.how == "street" and "淞南镇长者食堂" in then.reply.text, then


def test_a_place_of_one_kind_is_not_asked_by_street(index: LiveIndex) -> None:
    then = resolve(index, "去哪里办", _context(index, "law-will-notary"))
    assert then.how == "followup" and "公证处" in then.reply.text


def test_that_street_after_one_streets_place(index: LiveIndex) -> None:
    then = resolve(index, "那大场呢", _context(index, "dir-luodian-shitang", "phone"))
    assert then.reply.entry_id == "dir-dachang-shitang" and "021" not in then.reply.text, then


def test_what_else_offers_numbered_entries_on_the_same_subject(index: LiveIndex) -> None:
    then = resolve(index, "还有别的吗", _context(index, "svc-changhuxian-shenqing"))
    assert then.how == "more" and then.reply.choices and "1." in then.reply.text
    assert "svc-changhuxian-shenqing" not in then.reply.choices
    assert all(
        same_subject(index.entries["svc-changhuxian-shenqing"].title, index.entries[c].title)
        for c in then.reply.choices
    )


def test_a_facet_no_field_holds_is_answered_from_the_entrys_own_sentences(index: LiveIndex) -> None:
    then = resolve(index, "我儿子能代办吗", _context(index, "svc-changhuxian-shenqing"))
    assert then.how == "followup" and "代办" in then.reply.text, then
    online = resolve(index, "网上能办伐", _context(index, "ins-yidi-jiuyi-beian"))
    assert "随申办" in online.reply.text or "App" in online.reply.text, online


def test_that_one_without_an_earlier_aspect_finds_the_facet_not_the_same_entry(index: LiveIndex) -> None:
    then = resolve(index, "那打印的呢", _context(index, "law-will-handwritten"))
    assert then.reply.entry_id == "law-will-printed", then


def test_the_hedge_is_said_once_per_answer(index: LiveIndex) -> None:
    hedge = re.compile(r"以(?:街道/)?(?:官方|当年)[^，。（）]{0,4}为准")
    for entry_id in ("ins-laonian-jintie-dangci", "ins-jumin-yibao-canbao", "ins-ltci-jigou-zhifu"):
        whole = resolve(index, index.entries[entry_id].title, Context())
        assert len(hedge.findall(whole.reply.text)) <= 1, whole.reply.text
        fees = resolve(index, "要多少钱", _context(index, entry_id))
        assert len(hedge.findall(fees.reply.text)) <= 1, fees.reply.text


# ---- whether the senior, as they are, qualifies (issue 10) ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "situation"),
    [
        ("我血压高能保伐", "我血压高"),
        ("九十岁了还能买吗", "九十岁了"),
        ("户口不在上海行不行", "户口不在上海"),
        ("像我这样的可以伐", "像我这样的"),
        ("我老伴中风了能办吗", "我老伴中风了"),
    ],
)
def test_a_situation_asked_is_an_eligibility_follow_up(text: str, situation: str) -> None:
    reading = read(text)
    assert reading.bare and reading.aspect is not None and reading.aspect.name == "eligibility"
    assert reading.situation is not None and reading.situation.startswith(situation[:2])


@pytest.mark.parametrize("text", ["长护险能办伐", "我有高血压能办长处方伐", "我女儿能去吗", "网上能办伐"])
def test_no_situation_when_the_question_names_its_object_or_asks_another_facet(text: str) -> None:
    assert read(text).situation is None


@pytest.mark.parametrize(
    ("topic", "follow_up"),
    [
        ("ins-huhuibao-toubao", "我血压高能保伐"),
        ("ins-laonian-yiwaixian", "我得过糖尿病还能买吗"),
        ("svc-changhuxian-shenqing", "我老伴中风了能办吗"),
        ("svc-rijian-zhaoliao", "我腿脚不好坐轮椅能去伐"),
    ],
)
def test_eligibility_follow_ups_keep_the_topic(index: LiveIndex, topic: str, follow_up: str) -> None:
    # The issue: after an insurance entry, "我有高血压能保伐" was answered with 长处方.
    then = resolve(index, follow_up, _context(index, topic))
    assert then.how in ("followup", "related"), then
    entry = index.entries[str(then.reply.entry_id)]
    assert then.reply.entry_id == topic or same_subject(index.entries[topic].title, entry.title), then
    assert "谁可以" in then.reply.text or "关于「" in then.reply.text
    assert "12345" in then.reply.text, "the official check decides: where to ask"


def test_a_situation_that_names_another_topic_is_a_question_of_its_own(index: LiveIndex) -> None:
    then = resolve(index, "我妈长护险能办伐", _context(index, "ins-huhuibao-toubao"))
    assert then.reply.entry_id and "huhuibao" not in then.reply.entry_id, then
