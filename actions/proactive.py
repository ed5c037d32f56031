"""Proactive care in the conversation: 每日平安, "去不了了", family links, 删除我的信息 (care/ does the work).

Every question these actions ask sets ``care_stage``; the senior's next answer (1/2, 对/不要, a time,
a code) comes back to :class:`ActionCareAnswer` through training_data/rules_care.yml. The care worker
sets ``care_stage`` to ``checkin_reply`` when it sends the daily question, so the reply is classified
here (fine / unwell / other; an emergency is the Rasa server's own emergency path, which then calls
:func:`escalate` from action_handoff).

Consent (PIPL) comes before anything is stored: the daily check-in keeps health answers, a family
link shows a parent's bookings to someone else; both are asked for in plain words first.
Wording lives in domain/care.yml; logs carry stages and classes, never text.
"""

from __future__ import annotations

import abc
import logging
import re
import threading
import unicodedata
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import clock
from actions.booking_common import OWNER, STAGE, TARGET, booking_line, raw_text, reset_booking, store
from actions.care import comfort
from bookings.store import BookingClosed, BookingNotFound
from bookings.timeparse import parse_when
from care.classify import FINE, OTHER, UNWELL
from care.config import CareSettings
from care.db import CareDB
from care.errors import CareError, ConsentOutdated, ConsentRequired
from care.privacy import delete_everywhere
from care.service import BadLinkCode, Care, NotLinked, QuietTime
from common.errors import Unavailable
from textnorm import normalize
from yinling.places import find_street

logger = logging.getLogger(__name__)

Events = list[dict[str, Any]]
CARE_STAGE = "care_stage"
CARE_ARG = "care_arg"
YES = re.compile(
    r"^(?:1|一|第一个?|对|是|是的|好|好的|好啊|可以|行|同意|确定|确定删除|同意绑定|嗯)(?:的|吧|啊|呀|了)?$"
)
NO = re.compile(r"^(?:2|二|两|第二个?|不|不要|不用|不用了|算了|不删|不删了|不绑了|不同意|不了)(?:的|吧|啊|呀|了)?$")

_care: Care | None = None
_lock = threading.Lock()


def care() -> Care:
    """The process-wide care service over the booking database."""
    global _care
    with _lock:
        if _care is None:
            _care = Care(CareDB(), CareSettings.from_env())
        return _care


def _answer(tracker: Tracker) -> str | None:
    """ "yes", "no" or None for the latest message (1/2, 对/不要, the intent when the words say nothing)."""
    text = unicodedata.normalize("NFKC", raw_text(tracker)).strip().rstrip("。.!！~ ")
    if YES.match(text):
        return "yes"
    if NO.match(text):
        return "no"
    intent = str((tracker.latest_message.get("intent") or {}).get("name") or "")
    return {"affirm": "yes", "deny": "no", "stop": "no"}.get(intent)


def _minute(text: str) -> int | None:
    """The time of day in "每天八点问我一声", "早上七点半", "下午三点" (Shanghai), or None."""
    when = parse_when(text, clock.now())
    if when is None or when.start is None or not when.exact_time:
        return None
    return when.start.hour * 60 + when.start.minute


def _words(minute: int) -> str:
    hour, rest = divmod(minute, 60)
    part = "早上" if hour < 9 else "上午" if hour < 12 else "中午" if hour < 13 else "下午" if hour < 18 else "晚上"
    shown = hour - 12 if hour > 12 else hour
    return f"{part}{shown}点" + ("" if rest == 0 else "半" if rest == 30 else f"{rest}分")


def _code(text: str) -> str | None:
    digits = "".join(ch for ch in unicodedata.normalize("NFKC", text) if ch.isdigit())
    return digits if len(digits) == 6 else None


# What a booking step may meet that is a refusal, not a failure: a family link ended, a parent's consent to an
# older text, a booking cancelled or started meanwhile (another channel, staff). Nothing was read or changed.
BOOKING_REFUSALS = (NotLinked, ConsentOutdated, BookingNotFound, BookingClosed)


def say_booking_refusal(dispatcher: CollectingDispatcher, tracker: Tracker, err: Exception, action: str) -> None:
    """Tell the person which of :data:`BOOKING_REFUSALS` stopped the step."""
    if isinstance(err, NotLinked):
        logger.info("%s refused: the family link has ended.", action)
        dispatcher.utter_message(response="utter_booking_for_parent_unlinked_change")
    elif isinstance(err, ConsentOutdated):
        parent_consent_outdated(dispatcher, tracker.sender_id or "", err.address)
    else:
        dispatcher.utter_message(response="utter_booking_gone")


def parent_consent_outdated(dispatcher: CollectingDispatcher, family: str, senior: str) -> None:
    """A family member's change for a parent who agreed to an older text of the family consent: nothing was
    changed; the family member is told, and the parent is asked to read the new text (once per text)."""
    from actions.family_booking import who_of

    logger.info("A change for a parent refused: the parent's family consent is to an older text.")
    care().ask_consent_again(senior, "family")
    dispatcher.utter_message(response="utter_booking_for_parent_consent_outdated", who=who_of(family, senior))


class CareAction(Action, abc.ABC):
    """Runs ``act``; a database that does not answer is "busy", never "no"; then listen.

    Abstract, so rasa-sdk's registry (every Action subclass that is not abstract) skips it.
    """

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        try:
            care().touch(tracker.sender_id)
            events = self.act(dispatcher, tracker)
        except BOOKING_REFUSALS as err:  # before CareError: NotLinked and ConsentOutdated are refusals of care
            say_booking_refusal(dispatcher, tracker, err, self.name())
            events = [SlotSet(CARE_STAGE, None), *reset_booking()]
        except (Unavailable, CareError) as err:
            logger.warning("%s could not finish: %s", self.name(), type(err).__name__)
            dispatcher.utter_message(response="utter_care_busy")
            events = [SlotSet(CARE_STAGE, None)]
        if not any(e.get("event") == "followup" for e in events):
            events.append(FollowupAction("action_listen"))
        return events

    @abc.abstractmethod
    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Events:
        """The action's own work; its events are returned with the instruction to listen."""


def _street_said(tracker: Tracker) -> str | None:
    """The street or town the senior named since asking for the check-in ("每天八点问我，我住顾村"), for the
    grid worker; None when not said (the street of their latest booking is used then, care/service.py)."""
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        street = find_street(normalize(str(event.get("text") or "")))
        if street is not None:
            return street
        if ((event.get("parse_data") or {}).get("intent") or {}).get("name") == "checkin_optin":
            break
    return None


def _turn_on(dispatcher: CollectingDispatcher, tracker: Tracker, minute: int | None) -> Events:
    sender = tracker.sender_id
    if minute is None:
        dispatcher.utter_message(response="utter_care_ask_time")
        return [SlotSet(CARE_STAGE, "checkin_time")]
    try:
        care().checkin_optin(sender, minute, street=_street_said(tracker))
    except QuietTime:
        dispatcher.utter_message(response="utter_care_checkin_quiet", time=_words(minute))
        return [SlotSet(CARE_STAGE, "checkin_time")]
    dispatcher.utter_message(response="utter_care_checkin_on", time=_words(minute))
    return [SlotSet(CARE_STAGE, None)]


# Words that ask for the daily check-in itself (每天问问我, 每日平安, 天天打个招呼 …).
_ASKS_CHECKIN = re.compile(r"每天|天天|每日|平安|问问我|问我一声|问一声|打个招呼|问候|报平安|签到")


class ActionCareCheckinOptin(CareAction):
    def name(self) -> str:
        return "action_care_checkin_optin"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Events:
        text = raw_text(tracker)
        if not _ASKS_CHECKIN.search(normalize(text)) and comfort(dispatcher, text):
            # "我一个人在家 晚上好怕" is fear, not a request to be asked every day: comfort first, and the
            # choices (a person, the community's services, and how to turn 每日平安 on) instead of a consent form.
            return []
        minute = _minute(text)
        if not care().has_consent(tracker.sender_id, "checkin"):
            dispatcher.utter_message(response="utter_care_consent_checkin")
            return [SlotSet(CARE_STAGE, "consent_checkin"), SlotSet(CARE_ARG, None if minute is None else str(minute))]
        return _turn_on(dispatcher, tracker, minute)


class ActionCareCheckinOptout(CareAction):
    def name(self) -> str:
        return "action_care_checkin_optout"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Events:
        was_on = care().checkin_optout(tracker.sender_id)
        dispatcher.utter_message(response="utter_care_checkin_off" if was_on else "utter_care_checkin_not_on")
        return [SlotSet(CARE_STAGE, None)]


class ActionCareCantGo(CareAction):
    """ "去不了了" after a reminder: the nearest upcoming booking, then 1. 取消 2. 改个时间."""

    def name(self) -> str:
        return "action_care_cant_go"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Events:
        from actions.bookings import for_parent, meant_by
        from actions.family_booking import decide, parent_asked_about, who

        text = raw_text(tracker)
        said = parent_asked_about(text)
        if said is not None:
            # "我妈去不了了" from a family member linked to her: her booking, not the speaker's own.
            decision = decide(care().linked_parents(tracker.sender_id or ""), said)
            if decision.kind == "which":  # two parents and not told which: every one's bookings, numbered
                return [SlotSet(CARE_STAGE, None), *for_parent(dispatcher, tracker, said, move=False)]
            if decision.parent is not None:
                parent = decision.parent
                theirs = store().list_for_user(parent.senior)
                if not theirs:
                    dispatcher.utter_message(
                        response="utter_booking_none_to_cancel_for_parent", who=who(parent.relation)
                    )
                    return [SlotSet(CARE_STAGE, None), SlotSet(OWNER, None)]
                booking = meant_by(text, theirs, move=False) or min(theirs, key=lambda b: b.slot.start)
                dispatcher.utter_message(
                    response="utter_care_cant_go_for_parent", who=who(parent.relation), booking=booking_line(booking)
                )
                return [SlotSet(CARE_STAGE, "cant_go"), SlotSet(TARGET, booking.code), SlotSet(OWNER, parent.senior)]
            # Not linked: a booking they made for her was made as their own; theirs are read below.
        upcoming = store().list_for_user(tracker.sender_id)
        if not upcoming:
            dispatcher.utter_message(response="utter_care_cant_go_none")
            return [SlotSet(CARE_STAGE, None), SlotSet(OWNER, None)]
        booking = min(upcoming, key=lambda b: b.slot.start)
        dispatcher.utter_message(response="utter_care_cant_go", booking=booking_line(booking))
        return [SlotSet(CARE_STAGE, "cant_go"), SlotSet(TARGET, booking.code), SlotSet(OWNER, None)]


class ActionCareFamilyLink(CareAction):
    """A family member asks for a code (no code in the message); a parent sends one to confirm."""

    def name(self) -> str:
        return "action_care_family_link"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Events:
        code = _code(raw_text(tracker))
        if code is None and _renews_family_consent(tracker):
            # "同意绑定" from a linked parent who agreed to an older text: the new text, then 1. 同意 2. 不绑了.
            dispatcher.utter_message(response="utter_care_consent_family", family="您绑定的家人")
            return [SlotSet(CARE_STAGE, "consent_family"), SlotSet(CARE_ARG, None)]
        if code is None:
            # "我要绑定我妈": the relation is kept with the link, so "帮我妈约…" finds her among several.
            from actions.family_booking import relation_named

            new = care().family_code(tracker.sender_id, relation_named(raw_text(tracker)))
            dispatcher.utter_message(
                response="utter_care_family_code_given",
                code=f"{new[:3]} {new[3:]}",
                minutes=care().settings.link_code_minutes,
            )
            return [SlotSet(CARE_STAGE, None)]
        return _confirm_link(dispatcher, tracker.sender_id, code)


def _renews_family_consent(tracker: Tracker) -> bool:
    """A parent with family linked, who agreed to an older text of the family consent, agrees again."""
    sender = tracker.sender_id or ""
    return (
        "同意" in normalize(raw_text(tracker))
        and bool(care().family(sender))
        and care().consent_state(sender, "family") == "outdated"
    )


def _confirm_link(dispatcher: CollectingDispatcher, sender: str, code: str) -> Events:
    try:
        care().family_confirm(sender, code)
    except ConsentRequired:
        dispatcher.utter_message(response="utter_care_consent_family", family="您的家人")
        return [SlotSet(CARE_STAGE, "consent_family"), SlotSet(CARE_ARG, code)]
    except BadLinkCode:
        dispatcher.utter_message(response="utter_care_family_bad_code")
        return [SlotSet(CARE_STAGE, None)]
    dispatcher.utter_message(response="utter_care_family_linked")
    return [SlotSet(CARE_STAGE, None)]


class ActionCareFamilyUnlink(CareAction):
    def name(self) -> str:
        return "action_care_family_unlink"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Events:
        ended = care().unlink(tracker.sender_id)
        dispatcher.utter_message(response="utter_care_family_unlinked" if ended else "utter_care_family_none")
        return [SlotSet(CARE_STAGE, None)]


class ActionCareDelete(CareAction):
    def name(self) -> str:
        return "action_care_delete"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Events:
        # "确定删除" names deleting again: at the confirmation it is the yes, not a new request.
        if tracker.get_slot(CARE_STAGE) == "delete_confirm" and _answer(tracker) == "yes":
            return _delete(dispatcher, tracker.sender_id)
        dispatcher.utter_message(response="utter_care_delete_ask")
        return [SlotSet(CARE_STAGE, "delete_confirm")]


# Read by the Rasa server's tracker store (bot/tracker_store.py): when this turn is saved, the sender's
# whole conversation is deleted there (rows deleted from here would be written back by Rasa's save).
FORGET_CONVERSATION = {"yinling": "forget_conversation"}


def _delete(dispatcher: CollectingDispatcher, sender: str) -> Events:
    delete_everywhere(care(), sender)
    dispatcher.utter_message(response="utter_care_deleted")
    forget = {**SlotSet(CARE_STAGE, None), "metadata": dict(FORGET_CONVERSATION)}
    return [forget, SlotSet(CARE_ARG, None), SlotSet(TARGET, None), SlotSet(STAGE, None)]


class ActionCareAnswer(CareAction):
    """The answer to whatever ``care_stage`` says was asked."""

    def name(self) -> str:
        return "action_care_answer"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Events:
        stage = str(tracker.get_slot(CARE_STAGE) or "")
        arg = str(tracker.get_slot(CARE_ARG) or "")
        sender = tracker.sender_id
        text = raw_text(tracker)
        answer = _answer(tracker)
        logger.info("Care answer at stage %s: %s.", stage or "-", answer)
        if stage == "checkin_reply":
            kind = care().checkin_reply(sender, text)
            response = {FINE: "utter_care_answer_fine", UNWELL: "utter_care_answer_unwell"}.get(
                kind or "", "utter_care_answer_other"
            )
            if kind is None:
                response = "utter_care_answer_noted"  # today's question was already answered
            dispatcher.utter_message(response=response)
            return [SlotSet(CARE_STAGE, "checkin_reply" if kind == OTHER else None)]
        if stage == "consent_checkin":
            if answer == "yes":
                care().give_consent(sender, "checkin")
                # Agreeing again to a changed text keeps the time already chosen.
                minute = int(arg) if arg else _minute(text)
                return _turn_on(dispatcher, tracker, minute if minute is not None else care().checkin_minute(sender))
            dispatcher.utter_message(response="utter_care_declined")
            return [SlotSet(CARE_STAGE, None)]
        if stage == "checkin_time":
            minute = _minute(text)
            if minute is None and answer == "no":
                dispatcher.utter_message(response="utter_care_declined")
                return [SlotSet(CARE_STAGE, None)]
            return _turn_on(dispatcher, tracker, minute)
        if stage == "consent_family":
            if answer == "yes":
                care().give_consent(sender, "family")
                code = arg or _code(text)
                if code:
                    return _confirm_link(dispatcher, sender, code)
                if care().family(sender):  # a linked parent agreed to the new text
                    dispatcher.utter_message(response="utter_care_consent_renewed")
                    return [SlotSet(CARE_STAGE, None)]
                dispatcher.utter_message(response="utter_care_family_ask_code")
                return [SlotSet(CARE_STAGE, "family_code")]
            dispatcher.utter_message(response="utter_care_declined")
            return [SlotSet(CARE_STAGE, None)]
        if stage == "family_code":
            code = _code(text)
            if code is None and answer == "no":  # "算了", "不绑了": not a wrong code
                dispatcher.utter_message(response="utter_care_declined")
                return [SlotSet(CARE_STAGE, None)]
            if code is None:
                dispatcher.utter_message(response="utter_care_family_bad_code")
                return [SlotSet(CARE_STAGE, None)]
            return _confirm_link(dispatcher, sender, code)
        if stage == "delete_confirm":
            if answer == "yes":
                return _delete(dispatcher, sender)
            dispatcher.utter_message(response="utter_care_delete_kept")
            return [SlotSet(CARE_STAGE, None)]
        if stage == "cant_go":
            from actions.bookings import ask_cancel, owner_of, owner_slot
            from actions.family_booking import who_of

            code = str(tracker.get_slot(TARGET) or "")
            # Whose booking it is: the speaker's own, or the linked parent's ("我妈去不了了"), checked again now.
            owner = owner_slot(tracker)
            if answer == "yes" and code:  # 1. 取消 → the booking dialogue's own confirmation
                return [SlotSet(CARE_STAGE, None), *ask_cancel(dispatcher, tracker, code, owner)]
            if answer == "no" and code:  # 2. 改个时间
                upcoming = {b.code: b for b in store().list_for_user(owner_of(tracker, owner))}
                if code in upcoming:
                    if owner is None:
                        dispatcher.utter_message(
                            response="utter_booking_reschedule_when", booking=booking_line(upcoming[code])
                        )
                    else:
                        dispatcher.utter_message(
                            response="utter_booking_reschedule_when_for_parent",
                            who=who_of(sender, owner),
                            booking=booking_line(upcoming[code]),
                        )
                    return [
                        SlotSet(CARE_STAGE, None),
                        SlotSet(STAGE, "reschedule_when"),
                        SlotSet(TARGET, code),
                        SlotSet(OWNER, owner),
                    ]
        dispatcher.utter_message(response="utter_care_declined")
        return [SlotSet(CARE_STAGE, None)]


def escalate(sender: str, key: str) -> None:
    """After the 120 guidance (action_handoff, reason emergency): family told, case flagged for agents.

    Never raises: the emergency path must not depend on this.
    """
    try:
        care().emergency(sender, key)
    except CareError as err:
        logger.error("Emergency escalation not written: %s", type(err).__name__)
