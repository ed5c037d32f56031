"""Booking for a parent: "帮我妈约个助餐", "给我爸订个上门理发", "替我父亲约公证", "看看我妈的预约";
cancelling or moving a parent's booking ("取消我妈的预约", "我爸那个预约改到下礼拜三") is read by the same
:func:`parent_asked_about` and :func:`decide`, and handled in actions/bookings.py (:func:`~actions.bookings.for_parent`).

A family member linked to a parent (care/, the one-time code) books through the ordinary booking form;
what changes is whose booking it is. :func:`parent_said` reads the phrasing (a small parser over the
normalized text: 帮/给/替/为/代 + 我 + a word for a parent, or 我妈想约…); :func:`decide` finds the parent
among the family member's links, by the relation said when linking ("我要绑定我妈" → 母亲). The booking
is then stored under the parent's conversation id, so it is the parent's: "去不了了", reminders, 我约了啥.
The parent is told through the care outbox, in the booking's own transaction
(:meth:`care.service.Care.booked_for_parent`).

Not linked: the booking is the family member's own, and they are told, first, how to link.
Several links and no telling which (two parents linked without a relation): the booking stops and
they are asked to say whom it is for.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import regex
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.booking_common import FOR_PARENT, FOR_SELF, FOR_STOP, STAGE
from actions.proactive import care
from care.service import Parent
from textnorm import normalize

logger = logging.getLogger(__name__)

# Words for a parent (or grandparent, parent-in-law) → the relation kept with the link; None: not said which.
RELATIONS: dict[str, str | None] = {
    **dict.fromkeys(("妈妈", "母亲", "老妈", "老娘", "姆妈", "阿妈", "妈", "娘"), "母亲"),
    **dict.fromkeys(("爸爸", "父亲", "老爸", "阿爸", "老爷子", "爹", "爸"), "父亲"),
    **dict.fromkeys(("奶奶", "祖母"), "奶奶"),
    **dict.fromkeys(("爷爷", "祖父"), "爷爷"),
    **dict.fromkeys(("外婆", "姥姥", "外祖母"), "外婆"),
    **dict.fromkeys(("外公", "姥爷", "外祖父"), "外公"),
    **dict.fromkeys(("婆婆",), "婆婆"),
    **dict.fromkeys(("公公",), "公公"),
    **dict.fromkeys(("岳母", "丈母娘"), "岳母"),
    **dict.fromkeys(("岳父", "老丈人", "丈人"), "岳父"),
    **dict.fromkeys(("父母", "爸妈", "二老", "老人家", "家里老人", "家里的老人", "家老人"), None),
}
# Longest first, so 妈妈 is not read as 妈 and 老爸 not as 爸.
_WORD = "|".join(sorted(map(regex.escape, RELATIONS), key=len, reverse=True))
_ME = r"(?:我|俺|我们|阿拉)?(?:家里?的?)?"
# 帮我妈约…, 给我爸订…, 替我父亲…, 为我家老人…
_FOR = regex.compile(rf"(?:帮|给|替|为|代)\s*{_ME}(?P<who>{_WORD})")
# 我妈想约个助浴, 我爸要预约理发
_WANTS = regex.compile(rf"(?:我|俺|阿拉){_ME}(?P<who>{_WORD})\s*(?:想|要|需要|得)(?:约|订|预约|预定|报名|登记|安排|去)")
# 我妈的预约, 看看我爸约了啥, 帮我妈查一下预约
_ABOUT = regex.compile(rf"(?:我|俺|阿拉|帮|给|替)\s*{_ME}(?P<who>{_WORD})")
# "我要绑定我妈": who the family member links to
_LINK = regex.compile(rf"(?:我|俺|阿拉|和|跟|与){_ME}(?P<who>{_WORD})")


@dataclass(frozen=True)
class Said:
    """The family member speaks for a parent; ``relation`` is 母亲, 父亲 … or None when not said which."""

    relation: str | None


def _match(pattern: regex.Pattern[str], text: str) -> Said | None:
    match = pattern.search(normalize(text))
    return Said(RELATIONS[match.group("who")]) if match else None


def parent_said(text: str) -> Said | None:
    """For whom a booking request is made: a parent (Said), or None when the speaker books for themselves."""
    return _match(_FOR, text) or _match(_WANTS, text)


def parent_asked_about(text: str) -> Said | None:
    """A question about a parent's bookings ("我妈约了啥", "看看我爸的预约"), or None."""
    return _match(_ABOUT, text)


def relation_named(text: str) -> str | None:
    """The relation in a link request ("我要绑定我妈" → 母亲), or None."""
    said = _match(_LINK, text)
    return said.relation if said else None


def who(relation: str | None) -> str:
    """The parent named in a reply to the family member: 您母亲, 您父亲 …, or 您家里老人."""
    return f"您{relation}" if relation else "您家里老人"


@dataclass(frozen=True)
class Decision:
    """``parent`` when clear; ``kind``: "parent", "not_linked" or "which" (several links, cannot tell)."""

    kind: str
    parent: Parent | None = None


def decide(parents: list[Parent], said: Said) -> Decision:
    """The linked parent a request means: the one linked under that relation; else the only link whose
    relation is unknown; else, with no relation said, the only link."""
    if not parents:
        return Decision("not_linked")
    if said.relation is not None:
        same = [p for p in parents if p.relation == said.relation]
        if len(same) == 1:
            return Decision("parent", same[0])
        if same:
            return Decision("which")
        unknown = [p for p in parents if p.relation is None]
        if len(unknown) == 1:
            return Decision("parent", unknown[0])
        return Decision("which" if unknown else "not_linked")
    if len(parents) == 1:
        return Decision("parent", parents[0])
    return Decision("which")


# -- in the booking dialogue ------------------------------------------------------------------------


def booking_for(tracker: Tracker) -> str | None:
    """The parent's conversation id when this booking is for a linked parent, else None."""
    value = tracker.get_slot(FOR_PARENT)
    return None if value in (None, FOR_SELF, FOR_STOP) else str(value)


def who_for(tracker: Tracker) -> str:
    """How the family member's replies name the parent this booking is for (您母亲 …)."""
    return who_of(tracker.sender_id, booking_for(tracker))


def who_of(family: str, senior: str | None) -> str:
    """How replies to ``family`` name the linked parent ``senior``: by the relation said when linking."""
    return who(next((p.relation for p in care().linked_parents(family) if p.senior == senior), None))


def start_for_parent(dispatcher: CollectingDispatcher, tracker: Tracker, text: str) -> list[dict[str, Any]] | None:
    """At a booking request that names a parent: whose booking this is, said once. None: not for a parent.

    Linked: the booking will be the parent's. Not linked: it is the speaker's own, and they are told how to
    link. Several links and no telling which: the booking stops, and they are asked to say whom it is for.
    """
    said = parent_said(text)
    if said is None or tracker.get_slot(FOR_PARENT) is not None:
        return None
    decision = decide(care().linked_parents(tracker.sender_id), said)
    logger.info("Booking for a parent: %s.", decision.kind)
    if decision.kind == "parent" and decision.parent is not None:
        dispatcher.utter_message(response="utter_booking_for_parent_ack", who=who(decision.parent.relation))
        return [SlotSet(FOR_PARENT, decision.parent.senior)]
    if decision.kind == "not_linked":
        dispatcher.utter_message(response="utter_booking_for_parent_not_linked", who=who(said.relation))
        return [SlotSet(FOR_PARENT, FOR_SELF)]
    dispatcher.utter_message(response="utter_booking_for_parent_which")
    return [SlotSet("requested_slot", None), SlotSet(STAGE, "stopped"), SlotSet(FOR_PARENT, FOR_STOP)]
