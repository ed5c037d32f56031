"""Turn retrieval hits into a reply for an older reader.

The short answer comes first; then the checklist or the key facts as numbered lines;
then, once per conversation, a line marking unsure facts with the official channel; last,
the plain name of the source. Internal entry ids never reach a senior: they travel in the
reply's machine-readable part (for staff tools and tests), not in its text.

Contact details (address, phone, opening hours) of entries marked ``sample: true`` are
illustrative: a senior might dial them. Senior-facing replies therefore never show them and
point to 12345 instead, unless ``YINLING_SHOW_SAMPLE_CONTACTS=1`` switches on a demo.

Below the confidence threshold the reply says the bot is not sure, offers the closest
topics as numbered choices (their ids travel with the reply so that "1" can pick one),
and points to a person.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from common.contacts import HOTLINE, SERVICE_CENTRE
from knowledge_base.followup import Aspect
from knowledge_base.retrieval import Hit
from knowledge_base.schema import Entry

FIELD_LABELS = {
    "eligibility": "谁可以",
    "fees": "费用",
    "hours": "时间",
    "place": "地点",
    "phone": "电话",
    "how_to": "怎么办",
    "coverage": "保什么",
    "exclusions": "不保什么",
}
# Fields that are contact details: hidden for sample entries.
CONTACT_FIELDS = frozenset({"place", "phone", "hours"})
SAMPLE_CONTACTS_HIDDEN = f"具体地址、电话和开放时间，请打 {HOTLINE} 问，或者问{SERVICE_CENTRE}。"
SAMPLE_NOTE = f"（提醒：这里的地点、时间是示例数据，请先打 {HOTLINE} 或问{SERVICE_CENTRE}核实。）"
UNSURE_NOTE = f"（以上信息仅供参考，以官方最新规定为准，可拨打 {HOTLINE} 或到{SERVICE_CENTRE}咨询。）"
UNSURE_MARK = "（以官方为准）"
NOT_SURE = "这个问题我不太有把握，怕讲错耽误您。"
OFFER_PERSON = f"您也可以拨打 {HOTLINE} 市民服务热线，或到{SERVICE_CENTRE}问工作人员。"
# The answer text already points to the official channel: no second disclaimer.
_ALREADY_HEDGED = re.compile(rf"以官方为准|以官方最新|{HOTLINE}")


def show_sample_contacts() -> bool:
    return os.environ.get("YINLING_SHOW_SAMPLE_CONTACTS", "") == "1"


@dataclass(frozen=True)
class Reply:
    text: str
    entry_id: str | None
    confident: bool
    score: float
    choices: tuple[str, ...] = field(default=())  # entry ids offered as numbered choices
    disclaimed: bool = False  # the full "以官方为准" note was given in this reply


def source_name(entry: Entry) -> str:
    """A plain source name: the entry's source up to its first aside, else its title."""
    source = re.split(r"[（(；;]", entry.source, maxsplit=1)[0].strip()
    return source or entry.title


def _hidden(entry: Entry, key: str) -> bool:
    return entry.sample and key in CONTACT_FIELDS and not show_sample_contacts()


def _notes(entry: Entry, body: str, disclaimer_shown: bool) -> tuple[list[str], bool]:
    """The closing note: sample data or unsure facts, at most once per reply and in full once per conversation."""
    if entry.sample:
        if show_sample_contacts():
            return [SAMPLE_NOTE], False
        return [], False  # the contacts were withheld, with the pointer to 12345 instead
    if not entry.unsure or _ALREADY_HEDGED.search(body):
        return [], False
    if disclaimer_shown:
        return [UNSURE_MARK], False
    return [UNSURE_NOTE], True


def format_entry(entry: Entry, *, disclaimer_shown: bool = False) -> tuple[str, bool]:
    """The whole answer; and whether it carried the full disclaimer."""
    lines = [entry.answer]
    documents = entry.fields.get("documents")
    if documents:
        lines.append("要带的材料：")
        lines.extend(f"{i}. {doc}" for i, doc in enumerate(documents, start=1))
    facts = [(k, FIELD_LABELS[k], v) for k, v in entry.fields.items() if k in FIELD_LABELS and v]
    shown = [(label, value) for key, label, value in facts if not _hidden(entry, key)]
    for label, value in shown[:3]:
        lines.append(f"{label}：{value}")
    if any(_hidden(entry, key) for key, _, _ in facts):
        lines.append(SAMPLE_CONTACTS_HIDDEN)
    notes, disclaimed = _notes(entry, "\n".join(lines), disclaimer_shown)
    lines.extend(notes)
    lines.append(f"来源：{source_name(entry)}")
    return "\n".join(lines), disclaimed


def format_aspect(entry: Entry, aspect: Aspect, *, disclaimer_shown: bool = False) -> tuple[str, bool] | None:
    """Only the part of ``entry`` that answers ``aspect`` ("要带啥材料?"), or None if the entry lacks it."""
    key = next((k for k in aspect.fields if entry.fields.get(k)), None)
    if key is None:
        return None
    subject = f"「{entry.title}」"
    if _hidden(entry, key):
        lines = [f"{subject}的{aspect.label}是示例数据，我不能当真告诉您。", SAMPLE_CONTACTS_HIDDEN]
    elif key == "documents":
        lines = [f"{subject}要带的材料："]
        lines.extend(f"{i}. {doc}" for i, doc in enumerate(entry.fields["documents"], start=1))
    else:
        lines = [f"{subject}的{aspect.label}：{entry.fields[key]}"]
    notes, disclaimed = _notes(entry, "\n".join(lines), disclaimer_shown)
    lines.extend(notes)
    lines.append(f"来源：{source_name(entry)}")
    return "\n".join(lines), disclaimed


def missing_aspect(entry: Entry, aspect: Aspect) -> str:
    """The entry the conversation is about does not say this: say so, and where to ask."""
    return f"「{entry.title}」这一条里没有写{aspect.label}。{OFFER_PERSON}"


def not_sure(hits: list[Hit], entries: dict[str, Entry]) -> Reply:
    live = [h for h in hits if h.id in entries]
    lines = [NOT_SURE]
    choices: tuple[str, ...] = ()
    if live:
        choices = tuple(h.id for h in live[:3])
        lines.append("您是不是想问：")
        lines.extend(f"{i}. {entries[c].title}" for i, c in enumerate(choices, start=1))
        lines.append("请回复数字，或者把想问的再讲详细一点。")
    lines.append(OFFER_PERSON)
    return Reply("\n".join(lines), None, False, live[0].score if live else 0.0, choices)


def compose(hits: list[Hit], entries: dict[str, Entry], threshold: float, *, disclaimer_shown: bool = False) -> Reply:
    live = [h for h in hits if h.id in entries]
    if live and live[0].score >= threshold:
        top = live[0]
        text, disclaimed = format_entry(entries[top.id], disclaimer_shown=disclaimer_shown)
        return Reply(text, top.id, True, top.score, disclaimed=disclaimed)
    return not_sure(hits, entries)
