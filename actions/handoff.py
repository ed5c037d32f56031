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
  digits and spaces accepted; a number given with the request is taken at once), which becomes
  a callback ticket the agents see when the next shift starts.

Wording lives in domain/handoff.yml. Logs carry the reason and ids, never text or numbers.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import unicodedata
from typing import Any

import phonenumbers
from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.understand import form_question
from common.contacts import phone_in_groups
from staff.config import Settings
from staff.db import StaffDB
from staff.errors import StaffError
from staff.hours import when_phrase
from staff.queue import Queue, channel_of

logger = logging.getLogger(__name__)

STAGE = "handoff_stage"
AWAITING_PHONE = "callback_phone"
# The intent that triggered the handoff → the reason kept with it (and its queue priority).
REASONS = {"emergency": "emergency", "scam_worry": "scam", "request_human": "asked"}
DECLINE_INTENTS = frozenset({"deny", "stop"})
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
            return None
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def spoken_phone(e164: str) -> str:
    """+8613912345678 → 139 1234 5678 (read back the way seniors say numbers)."""
    return phone_in_groups(e164.removeprefix("+86"))


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
        if action == "utter_handoff_callback_invalid":
            count += 1
        elif action == "utter_handoff_callback_ask":
            break
    return count


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
        return [*self._run(dispatcher, tracker), FollowupAction("action_listen")]

    def _run(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
        try:
            queue, settings = staff_queue()
            if tracker.get_slot(STAGE) == AWAITING_PHONE and _reason(tracker) not in ("emergency", "scam", "asked"):
                return self._callback_answer(dispatcher, tracker, queue, settings)
            return self._hand_over(dispatcher, tracker, queue, settings)
        except StaffError as err:
            # "Cannot now", never "no": the senior is pointed to the hotline and the bot carries on.
            logger.error("Handoff not possible: %s", type(err).__name__)
            dispatcher.utter_message(response="utter_handoff_unavailable")
            return [SlotSet(STAGE, None)]

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
        dispatcher.utter_message(response="utter_handoff_callback_ask", hours=settings.hours.describe(), when=when)
        return [SlotSet(STAGE, AWAITING_PHONE)]

    @staticmethod
    def _callback_answer(
        dispatcher: CollectingDispatcher, tracker: Tracker, queue: Queue, settings: Settings
    ) -> list[dict[str, Any]]:
        message = tracker.latest_message
        intent = str((message.get("intent") or {}).get("name") or "")
        phone = find_phone(str(message.get("text") or ""))
        if phone is None and intent in DECLINE_INTENTS:
            dispatcher.utter_message(response="utter_handoff_callback_declined")
            return [SlotSet(STAGE, None)]
        if phone is None:
            if _asked_times(tracker) >= 1:
                dispatcher.utter_message(response="utter_handoff_callback_declined")
                return [SlotSet(STAGE, None)]
            dispatcher.utter_message(response="utter_handoff_callback_invalid")
            return []
        now = dt.datetime.now(dt.timezone.utc)
        due = settings.hours.next_opening(now)
        when = "会尽快" if due == now else when_phrase(due, now)
        channel = channel_of(tracker.sender_id, tracker.get_latest_input_channel())
        ticket = queue.create_ticket(tracker.sender_id, channel, _trigger_reason(tracker), due, phone=phone)
        logger.info("Callback ticket %s (%s).", ticket.id, channel)
        dispatcher.utter_message(response="utter_handoff_callback_saved", when=when, phone=spoken_phone(phone))
        return [SlotSet(STAGE, None)]
