"""An entry answered a moment ago is not given in full again (actions/knowledge.py ``not_twice``).

A follow-up the entry has no field for ("评估的人会上门伐" after 长护险怎么申请, "学费多少" after 老年大学, "我七十五了有伐"
after 高龄津贴) used to get the whole entry a second time. Now: the part asked for, or the entry's sentences that speak
of it, or an honest "这一条里没有讲到" with 12345. Real knowledge base, real retrieval; phrasings kept out of the
training data and the entries' question variants.
"""

from __future__ import annotations

import pytest

from actions.knowledge import Context, not_twice, resolve
from knowledge_base.retrieval import LiveIndex

PAIRS = [
    ("法律援助怎么申请", "法律援助在哪里申请"),
    ("意定监护是啥意思", "我没有子女 可以找侄子做监护人伐"),
    ("长护险怎么申请", "评估的人会上门伐"),
    ("以房养老是啥", "有风险伐"),
    ("遗嘱公证要哪能弄", "我写好的遗嘱还要公证伐"),
    ("长者食堂在哪里", "有没有软一点的菜"),
    ("认知障碍筛查", "要抽血伐"),
    ("异地就医备案怎么办", "回老家看病能直接刷卡伐"),
    ("防走失手环哪里领", "要充电伐"),
    ("老年人免费体检", "要空腹伐"),
    ("助餐点在哪里", "饭菜能打包带回去伐"),
    ("老年大学在哪里", "上课要自己带笔墨伐"),
    ("家庭病床怎么申请", "晚上医生来伐"),
    ("日间照料中心是做啥的", "可以午睡伐"),
    ("适老化改造怎么申请", "改造好了有人来检查伐"),
]


def _after(index: LiveIndex, first: str, follow: str) -> tuple[str, str]:
    shown = resolve(index, first, Context())
    assert shown.reply.confident and shown.reply.entry_id, first
    entry = index.entries[shown.reply.entry_id]
    context = Context(topic=entry)
    again = not_twice(index, follow, resolve(index, follow, context), context, {entry.id})
    return entry.answer, again.reply.text


@pytest.mark.parametrize(("first", "follow"), PAIRS)
def test_the_entry_just_answered_is_never_given_in_full_again(index: LiveIndex, first: str, follow: str) -> None:
    whole, text = _after(index, first, follow)
    assert not text.startswith(whole), text


@pytest.mark.parametrize(
    ("first", "follow", "says"),
    [
        ("长护险怎么申请", "评估的人会上门伐", "评估员会上门"),
        ("老年人免费体检", "要空腹伐", "空腹"),
        ("法律援助怎么申请", "法律援助在哪里申请", "法律援助中心"),
        ("异地就医备案怎么办", "回老家看病能直接刷卡伐", "直接刷医保卡"),
    ],
)
def test_what_the_entry_says_on_the_point_is_given(index: LiveIndex, first: str, follow: str, says: str) -> None:
    _, text = _after(index, first, follow)
    assert says in text, text


@pytest.mark.parametrize(
    ("first", "follow"),
    [("助餐点在哪里", "饭菜能打包带回去伐"), ("以房养老是啥", "有风险伐"), ("认知障碍筛查", "要抽血伐")],
)
def test_an_entry_silent_on_the_point_says_so_and_points_to_12345(index: LiveIndex, first: str, follow: str) -> None:
    _, text = _after(index, first, follow)
    # the entry's own "not said", or the subject check's "no information on this" (knowledge_base/relevance.py)
    assert ("没有讲到" in text or "没有资料" in text) and "12345" in text, text


def test_an_age_after_an_allowance_is_asked_as_eligibility(index: LiveIndex) -> None:
    _, text = _after(index, "老年综合津贴怎么领", "我七十五了有伐")
    assert "谁可以" in text and "12345" in text, text


def test_a_new_question_or_a_first_answer_is_left_alone(index: LiveIndex) -> None:
    first = resolve(index, "长护险怎么申请", Context())
    entry_id = first.reply.entry_id
    assert not_twice(index, "长护险怎么申请", first, Context(), set()) is first
    assert not_twice(index, "长护险怎么申请", first, Context(), {"some-other-entry"}) is first
    assert entry_id is not None
