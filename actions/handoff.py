"""action_handoff: hand the conversation to a person, or take a number to call back.

Triggers (training_data/rules.yml, rules_handoff.yml): the senior asks for a person; an emergency
(after utter_emergency, which Rasa says first by itself); a scam worry (after the safety advice
and the KB answer); two misunderstandings in a row (the fallback action calls
:func:`misunderstood_twice` and follows up with this action).

- Working hours and an agent online: a handoff row goes into the staff database (priority
  emergency > scam > asked > misunderstood), the senior is told in one sentence that a person
  will answer and roughly when (from the queue ahead of them), and the conversation is paused
  with Rasa's own ``ConversationPaused``. While paused, Rasa stores the senior's messages and
  predicts nothing; the staff app shows them to the agent and resumes the bot on hand-back.
- Otherwise: the senior is asked for a phone number (validated with ``phonenumbers``; full-width
  digits, spaces, digits in words and a Shanghai landline accepted; a number given with the request is
  taken at once), which becomes a callback ticket the agents see when the next shift starts.

Whatever the senior types right after that question is its answer (training_data/rules_handoff.yml
sends every answer-like intent back here): a number is taken, "不用了" or "我没有手机" gets its own
reply, a scam that already cost money gets the scam-aftermath advice. The turn always ends here
(``FollowupAction("action_listen")``): this action moves ``handoff_stage``, which the rules that sent the
message here were conditioned on, so no rule would predict listening afterwards and Rasa's core fallback
would add "没听明白" (and undo the turn, leaving the stage set).

Wording lives in domain/handoff.yml. Logs carry the reason and ids, never text or numbers.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import unicodedata
from typing import Any

import phonenumbers
from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.scam import lost_to_scam, utter_aftermath
from actions.understand import clean_phone, form_question
from common.contacts import phone_in_groups
from common.turns import previous_response
from staff.config import Settings
from staff.db import StaffDB
from staff.errors import StaffError
from staff.hours import when_phrase
from staff.queue import Queue, channel_of
from textnorm import normalize

logger = logging.getLogger(__name__)

STAGE = "handoff_stage"
AWAITING_PHONE = "callback_phone"
# The intent that triggered the handoff → the reason kept with it (and its queue priority).
# A complaint about a service reaches the agents as "complaint" (its text stays in the conversation, never in a log).
REASONS = {"emergency": "emergency", "scam_worry": "scam", "request_human": "asked", "complain_service": "complaint"}
DECLINE_INTENTS = frozenset({"deny", "stop"})
# The handoff's own questions for a number: the message right after one of them is its answer.
QUESTIONS = frozenset(
    {
        "utter_handoff_callback_ask",
        "utter_handoff_callback_ask_again",
        "utter_handoff_callback_invalid",
        "utter_handoff_callback_landline",
    }
)
# Asked again (not the first question): after one of these a second non-answer ends the question.
ASKED_AGAIN = QUESTIONS - {"utter_handoff_callback_ask"}
# "不用了", "不留了", "覅打了", "算了": no number wanted, whatever the classifier made of it.
_DECLINE = re.compile(r"不用|不要|不留|不必|不想留|算了|免了|别打|不打了|没事了|没关系")
# "我没有手机", "不会用手机": a landline will do.
_NO_MOBILE = re.compile(r"(?:没有?|不用|不会用?|用不来)(?:手机|电话|号码)|手机(?:没有|坏了|丢了)")
# "打我家里电话吧", "打座机": another phone, its number not said yet.
_OTHER_PHONE = re.compile(r"座机|固话|家里(?:的)?电话|家里的?号码|宅电|打(?:我)?家里")
# Words about the number itself: such a message answers the question, whatever the classifier made of it.
_NUMBER_TALK = re.compile(r"电话|手机|号码|座机|打给|打我|联系我|找我")
# The classifier's question intents: a question instead of a number is answered by the knowledge base.
QUESTION_INTENTS = frozenset({"ask_care_service", "ask_legal", "ask_insurance", "ask_followup"})
MISUNDERSTOOD_RESPONSES = frozenset({"utter_default"})
BOOKING_FORM = "booking_form"

_queue: Queue | None = None
_settings: Settings | None = None
_lock = threading.Lock()


def staff_queue() -> tuple[Queue, Settings]:
    """The process-wide queue over the staff database (STAFF_DATABASE_URL …)."""
    global _queue, _settings
    with _lock:
        if _queue is None or _settings is None:
            _settings = Settings.from_env()
            _queue = Queue(StaffDB(_settings.database_url))
        return _queue, _settings


def find_phone(text: str) -> str | None:
    """The first valid mainland number in ``text`` (E.164), full-width digits and spaces allowed."""
    clean = unicodedata.normalize("NFKC", text)
    for match in phonenumbers.PhoneNumberMatcher(clean, "CN"):
        if phonenumbers.is_valid_number(match.number):
            return phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
    # Digits said in groups ("139 1234 5678") may not be matched as one number: try them joined.
    digits = "".join(ch for ch in clean if ch.isdigit() and ch.isascii())
    if 7 <= len(digits) <= 15:
        try:
            number = phonenumbers.parse(digits, "CN")
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # In words (一三八…, 幺), or 8 digits of a Shanghai landline: read as the booking form reads a number.
    national = clean_phone(text)
    return f"+86{national.removeprefix('0')}" if national else None


def spoken_phone(e164: str) -> str:
    """+8613912345678 → 139 1234 5678, +862156781234 → 021 5678 1234 (read back the way seniors say numbers)."""
    national = e164.removeprefix("+86")
    if national.startswith("1"):
        return phone_in_groups(national)
    try:
        number = phonenumbers.parse(e164, "CN")
    except phonenumbers.NumberParseException:
        return national
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def _turns(tracker: Tracker) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(user event, the bot events that answered it) for each user turn, oldest first."""
    turns: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for event in tracker.events:
        kind = event.get("event")
        if kind == "user":
            turns.append((event, []))
        elif kind == "bot" and turns:
            turns[-1][1].append(event)
        elif kind in ("restart", "session_started"):
            turns.clear()
    return turns


def _misunderstood(bot_events: list[dict[str, Any]]) -> bool:
    for event in bot_events:
        metadata = event.get("metadata") or {}
        custom = (event.get("data") or {}).get("custom") or {}
        if metadata.get("utter_action") in MISUNDERSTOOD_RESPONSES:
            return True
        if isinstance(custom, dict) and custom.get("kb_entry", "") is None and custom.get("confident") is False:
            return True
    return False


def misunderstood_twice(tracker: Tracker) -> bool:
    """True when the turn before this one was also not understood.

    Call it from the fallback while deciding to say "我没听明白" for the current message: a
    previous turn answered with ``utter_default`` (or an unconfident knowledge-base reply) makes
    this the second misunderstanding in a row, and the senior should get a person instead
    (``FollowupAction("action_handoff")``).
    """
    turns = _turns(tracker)
    return len(turns) >= 2 and _misunderstood(turns[-2][1])


def _answered_this_turn(tracker: Tracker) -> bool:
    """The bot has already answered the latest user message (the knowledge answer before a scam worry's handoff)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "bot":
            return True
    return False


def _reason(tracker: Tracker) -> str:
    intent = str((tracker.latest_message.get("intent") or {}).get("name") or "")
    return REASONS.get(intent, "misunderstood")


def _trigger_reason(tracker: Tracker) -> str:
    """The reason of the handoff that asked for the number: the latest triggering intent."""
    for user, _bots in reversed(_turns(tracker)):
        intent = str((user.get("parse_data", {}).get("intent") or {}).get("name") or "")
        if intent in REASONS:
            return REASONS[intent]
    return "misunderstood"


def _asked_times(tracker: Tracker) -> int:
    """How many times in a row the senior already gave something that was not a number."""
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") != "bot":
            continue
        action = (event.get("metadata") or {}).get("utter_action")
        if action in ASKED_AGAIN:
            count += 1
        elif action == "utter_handoff_callback_ask":
            break
    return count


def awaiting_number(tracker: Tracker) -> bool:
    """The bot's last words were the handoff's question for a number, so this message answers it.

    ``handoff_stage`` alone is not enough: a senior who asked something else instead got that answered,
    and a later "2" picks from that answer's list, it is no phone number."""
    return tracker.get_slot(STAGE) == AWAITING_PHONE and previous_response(tracker.events) in QUESTIONS


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        # The bot listens next, however the handoff was reached: after a rule, or as the follow-up of a numbered
        # choice ("1. 找人工") or of a second misunderstanding, where no rule would predict listening and the
        # core fallback would add "没听明白" to the handoff's own answer.
        if (tracker.active_loop or {}).get("name") == BOOKING_FORM and _reason(tracker) != "emergency":
            text = str(tracker.latest_message.get("text") or "")
            if text and form_question(text, tracker.get_slot("requested_slot")) is not None:
                # "我电话不方便给" at the phone prompt, read as a request for a person (or "电话给了会不会被骗" as a
                # scam worry): a question about the form, answered once; the form asks its question again.
                if _answered_this_turn(tracker):
                    return [FollowupAction(BOOKING_FORM)]
                from actions.knowledge import answer_in_booking  # actions.knowledge imports this module

                return [*answer_in_booking(dispatcher, tracker, text), FollowupAction(BOOKING_FORM)]
        # This reply is the whole turn (see the module docstring).
        return [*await self._run(dispatcher, tracker, domain), FollowupAction("action_listen")]

    async def _run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        try:
            queue, settings = staff_queue()
            if awaiting_number(tracker) and _reason(tracker) not in ("emergency", "scam", "asked", "complaint"):
                answered = self._callback_answer(dispatcher, tracker, queue, settings)
                if answered is None:
                    # A question instead of a number ("助浴几点开始"): the knowledge base answers it.
                    from actions.knowledge import ActionKnowledgeAnswer  # actions.knowledge imports this module

                    answered = [SlotSet(STAGE, None), *await ActionKnowledgeAnswer().run(dispatcher, tracker, domain)]
                events = answered
            else:
                events = self._hand_over(dispatcher, tracker, queue, settings)
        except StaffError as err:
            # "Cannot now", never "no": the senior is pointed to the hotline and the bot carries on.
            logger.error("Handoff not possible: %s", type(err).__name__)
            dispatcher.utter_message(response="utter_handoff_unavailable")
            events = [SlotSet(STAGE, None)]
        return events

    @staticmethod
    def _hand_over(
        dispatcher: CollectingDispatcher, tracker: Tracker, queue: Queue, settings: Settings
    ) -> list[dict[str, Any]]:
        reason = _reason(tracker)
        if reason == "emergency":
            # Proactive care: linked family told, a case flagged for agents at top priority (never raises).
            from actions.proactive import escalate

            user: dict[str, Any] = next((e for e in reversed(tracker.events) if e.get("event") == "user"), {})
            escalate(tracker.sender_id, f"{tracker.sender_id}|{user.get('message_id') or user.get('timestamp')}")
        conversation = tracker.sender_id
        channel = channel_of(conversation, tracker.get_latest_input_channel())
        now = dt.datetime.now(dt.timezone.utc)
        if settings.hours.is_open(now) and queue.agents_online(settings.presence_seconds) > 0:
            handoff, created = queue.open_handoff(conversation, channel, reason)
            ahead = queue.waiting_ahead(handoff)
            logger.info("Handoff %s (%s, %s) opened=%s, %d ahead.", handoff.id, reason, channel, created, ahead)
            if reason == "emergency":
                dispatcher.utter_message(response="utter_handoff_wait_emergency")
            else:
                minutes = (ahead + 1) * settings.minutes_per_waiting
                dispatcher.utter_message(response="utter_handoff_wait", minutes=minutes)
            return [SlotSet(STAGE, None), ConversationPaused()]
        due = settings.hours.next_opening(now)
        when = "会尽快" if due == now else when_phrase(due, now)
        phone = find_phone(str(tracker.latest_message.get("text") or ""))
        if phone is not None:
            ticket = queue.create_ticket(conversation, channel, reason, due, phone=phone)
            logger.info("Callback ticket %s (%s, %s) with a number given at once.", ticket.id, reason, channel)
            dispatcher.utter_message(response="utter_handoff_callback_saved", when=when, phone=spoken_phone(phone))
            return [SlotSet(STAGE, None)]
        logger.info("Handoff asked outside hours or with nobody online (%s, %s): asking for a number.", reason, channel)
        if awaiting_number(tracker):
            # Asked a moment ago (a second scam message, "我要人工" again): the short question, not the whole notice.
            dispatcher.utter_message(response="utter_handoff_callback_ask_again")
        else:
            dispatcher.utter_message(response="utter_handoff_callback_ask", hours=settings.hours.describe(), when=when)
        return [SlotSet(STAGE, AWAITING_PHONE)]

    @staticmethod
    def _callback_answer(
        dispatcher: CollectingDispatcher, tracker: Tracker, queue: Queue, settings: Settings
    ) -> list[dict[str, Any]] | None:
        """The answer to the question for a number; None when it is a question of its own, for the knowledge base."""
        message = tracker.latest_message
        intent = str((message.get("intent") or {}).get("name") or "")
        text = str(message.get("text") or "")
        phone = find_phone(text)
        if phone is None:
            return _not_a_number(dispatcher, tracker, text, intent)
        now = dt.datetime.now(dt.timezone.utc)
        due = settings.hours.next_opening(now)
        when = "会尽快" if due == now else when_phrase(due, now)
        channel = channel_of(tracker.sender_id, tracker.get_latest_input_channel())
        ticket = queue.create_ticket(tracker.sender_id, channel, _trigger_reason(tracker), due, phone=phone)
        logger.info("Callback ticket %s (%s).", ticket.id, channel)
        dispatcher.utter_message(response="utter_handoff_callback_saved", when=when, phone=spoken_phone(phone))
        return [SlotSet(STAGE, None)]


def _not_a_number(
    dispatcher: CollectingDispatcher, tracker: Tracker, text: str, intent: str
) -> list[dict[str, Any]] | None:
    """The answer to "请留一个手机号" holds no number: one clear reply, the question kept open at most once more;
    None for a question of its own (the knowledge base answers it)."""
    plain = normalize(text)
    if lost_to_scam(tracker, text):
        # "我交掉了两千" after a scam call: what to do now comes first; the number is still welcome.
        utter_aftermath(dispatcher, text)
        dispatcher.utter_message(response="utter_handoff_callback_ask_again")
        return []
    about_a_number = _NUMBER_TALK.search(plain)
    if intent in QUESTION_INTENTS and not about_a_number:
        # The senior asked something else instead ("助浴几点开始"): that is answered, the number is not pressed.
        return None
    no_mobile = _NO_MOBILE.search(plain) or _OTHER_PHONE.search(plain)
    if no_mobile and _asked_times(tracker) == 0:
        # "我没有手机", "打我家里电话吧": a landline will do; asked once.
        dispatcher.utter_message(response="utter_handoff_callback_landline")
        return []
    if intent in DECLINE_INTENTS or _DECLINE.search(plain) or _asked_times(tracker) >= 1:
        dispatcher.utter_message(response="utter_handoff_callback_declined")
        return [SlotSet(STAGE, None)]
    if any(ch.isdigit() for ch in plain):
        dispatcher.utter_message(response="utter_handoff_callback_invalid")
    else:
        dispatcher.utter_message(response="utter_handoff_callback_ask_again")
    return []
