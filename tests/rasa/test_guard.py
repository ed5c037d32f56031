from __future__ import annotations

import asyncio

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from channels.guard import APOLOGY, answer_or_apologize


def _run(handler) -> tuple[bool, list[dict]]:
    collector = CollectingOutputChannel()
    answered = asyncio.run(answer_or_apologize(handler, UserMessage("你好", collector, "u1", input_channel="rest")))
    return answered, collector.messages


def test_a_reply_passes_through_untouched() -> None:
    async def handler(message: UserMessage) -> None:
        await message.output_channel.send_response(message.sender_id, {"text": "您好"})

    answered, messages = _run(handler)
    assert answered is True
    assert [m["text"] for m in messages] == ["您好"]


def test_silence_becomes_an_apology() -> None:
    async def handler(message: UserMessage) -> None:
        return None  # what Rasa does when the action server is down

    answered, messages = _run(handler)
    assert answered is False
    assert [m["text"] for m in messages] == [APOLOGY]


def test_a_crash_becomes_an_apology() -> None:
    async def handler(message: UserMessage) -> None:
        raise RuntimeError("boom")

    answered, messages = _run(handler)
    assert answered is False and messages[0]["text"] == APOLOGY


def test_a_reply_that_fails_to_send_still_gets_an_apology_attempt() -> None:
    class FlakyOutput(CollectingOutputChannel):
        async def send_response(self, recipient_id: str, message: dict) -> None:
            raise ConnectionError("user blocked the bot")

    async def handler(message: UserMessage) -> None:
        await message.output_channel.send_response(message.sender_id, {"text": "您好"})

    output = FlakyOutput()
    answered = asyncio.run(answer_or_apologize(handler, UserMessage("你好", output, "u1", input_channel="rest")))
    assert answered is False
    assert [m["text"] for m in output.messages] == [APOLOGY]


def test_the_guard_knows_the_classifier_s_length_cap() -> None:
    from pathlib import Path

    import yaml

    from channels.guard import NLU_MAX_CHARS

    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "config.yml").read_text(encoding="utf-8"))
    normalizer = next(c for c in config["pipeline"] if c["name"] == "bot.components.normalizer.TextNormalizer")
    assert normalizer["max_chars"] == NLU_MAX_CHARS


def test_a_long_message_is_answered_and_told_its_middle_may_have_been_skipped() -> None:
    import asyncio

    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

    from channels.guard import LONG_MESSAGE, answer_or_apologize

    async def bot(message: UserMessage) -> None:
        await message.output_channel.send_text_message(message.sender_id, "答复")

    for text, notices in (("长护险" * 200, 1), ("长护险怎么申请", 0)):
        out = CollectingOutputChannel()
        asyncio.run(answer_or_apologize(bot, UserMessage(text, out, "guard-test")))
        assert [m["text"] for m in out.messages].count(LONG_MESSAGE) == notices
        assert out.messages[0]["text"] == "答复"


def test_the_channel_keeps_its_name_so_responses_can_differ_per_channel() -> None:
    # Rasa picks a response's `channel:` variant (the web page's A+ button, WeChat's settings) by this name.
    seen: list[str] = []

    async def handler(message: UserMessage) -> None:
        seen.append(message.output_channel.name())
        await message.output_channel.send_response(message.sender_id, {"text": "您好"})

    _run(handler)
    assert seen == [CollectingOutputChannel.name()]
