"""End to end: an entry silent on the question's subject is no confident answer (issue 10).

Through the real Rasa and action servers. The phrasings are in TEST_SENTENCES
(tests/rasa/test_project_data.py), so they stay out of the training data.
"""

from __future__ import annotations

import pytest

from common.contacts import HOTLINE
from tests.app.conftest import Stack, kb_entry, new_sender, texts

pytestmark = pytest.mark.e2e


def test_a_card_the_kb_does_not_describe_gets_the_unsure_reply(stack: Stack) -> None:
    replies = stack.say(new_sender(), "敬老卡怎么办")
    said = "\n".join(texts(replies))
    assert kb_entry(replies) is None, replies
    assert "不太有把握" in said and HOTLINE in said and "1. " in said, said
    assert "老伙伴" not in said.split("1. ")[0], "no answer from the 老伙伴联名卡 entry before the choices"


def test_what_ltci_is_comes_from_the_entry_that_says_what_it_is(stack: Stack) -> None:
    replies = stack.say(new_sender(), "长护险是什么")
    assert kb_entry(replies) in {"ins-ltci-what", "svc-changhuxian-jujia"}, replies
