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
# A hedge inside a field value ("（以官方为准）", "（常见标准，以官方为准）", "（以当年条款为准）"): the reply
# says it once, in the answer or in the closing note, not after every fact.
_FIELD_HEDGE = re.compile(r"[，,；;]?\s*(?:具体)?以(?:官方|当年|最新|官方最新)[^（）()，。]{0,8}为准")
_EMPTY_ASIDE = re.compile(r"[（(]\s*[）)]")
# Sentences of an entry's text, to answer an aspect no field holds; numbered list markers ("2. ") dropped.
_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]?")
_LIST_MARK = re.compile(r"^\s*\d+[.、．]\s*")
# In sample entries, sentences with contact details are sample data too.
_SAMPLE_DETAIL = re.compile(r"示例|演示|××|地址|电话|\d{3,}[-－]\d{3,}")


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


def unhedged(value: object) -> tuple[str, bool]:
    """A field value without its "以官方为准" aside; and whether it had one."""
    text = str(value)
    bare = _EMPTY_ASIDE.sub("", _FIELD_HEDGE.sub("", text)).strip()
    return bare, bare != text


def sentences_about(entry: Entry, aspect: Aspect, limit: int = 3) -> list[str]:
    """The sentences of the entry's answer and details that answer ``aspect`` (its keywords), at most ``limit``."""
    if aspect.keywords is None:
        return []
    found: list[str] = []
    for part in (entry.answer, *re.split(r"\s(?=\d+[.、．])", entry.details or "")):
        for sentence in _SENTENCE.findall(_LIST_MARK.sub("", part)):
            sentence = sentence.strip()
            if len(sentence) < 4 or sentence in found or not aspect.keywords.search(sentence):
                continue
            if entry.sample and _SAMPLE_DETAIL.search(sentence) and not show_sample_contacts():
                continue
            found.append(sentence)
    return found[:limit]


def _bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)}


def sentences_on(entry: Entry, runs: list[str], limit: int = 2) -> list[str]:
    """The entry's sentences (answer, details, then its fields) that share the most words with the question's topic
    runs (two words, or half of them), best first, at most ``limit``; the words of the entry's own title count for nothing
    (every sentence is about it). Empty when no sentence shares enough."""
    asked = set().union(*(_bigrams(run) for run in runs)) - _bigrams(entry.title) if runs else set()
    if not asked:
        return []
    parts = [entry.answer, *re.split(r"\s(?=\d+[.、．])", entry.details or "")]
    parts += [
        f"{FIELD_LABELS[k]}：{v}" for k, v in entry.fields.items() if k in FIELD_LABELS and v and not _hidden(entry, k)
    ]
    scored: list[tuple[int, int, str]] = []
    for part in parts:
        for sentence in _SENTENCE.findall(_LIST_MARK.sub("", part)):
            sentence = sentence.strip()
            if len(sentence) < 4 or any(sentence == s for _, _, s in scored):
                continue
            if entry.sample and _SAMPLE_DETAIL.search(sentence) and not show_sample_contacts():
                continue
            shared = len(asked & _bigrams(sentence))
            if shared >= 2 or (shared and 2 * shared >= len(asked)):  # 饭菜 alone does not answer 饭菜能打包伐
                scored.append((-shared, len(scored), sentence))
    return [sentence for _, _, sentence in sorted(scored)[:limit]]


def said_again(entry: Entry, runs: list[str]) -> str:
    """A question about the entry just shown in full: what it says on that (its closest sentences), or that it does
    not say; never the whole entry a second time."""
    found = sentences_on(entry, runs)
    if found:
        return "\n".join([f"「{entry.title}」里讲到：", *found, OFFER_PERSON])
    return f"「{entry.title}」这一条里没有讲到这一点。{OFFER_PERSON}"


def _notes(entry: Entry, body: str, disclaimer_shown: bool, hedged: bool = False) -> tuple[list[str], bool]:
    """The closing note: sample data or unsure facts, at most once per reply and in full once per conversation.

    ``hedged``: a field shown had its own "以官方为准", taken out so that the reply says it once."""
    if entry.sample:
        if show_sample_contacts():
            return [SAMPLE_NOTE], False
        return [], False  # the contacts were withheld, with the pointer to 12345 instead
    if not (entry.unsure or hedged) or _ALREADY_HEDGED.search(body):
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
    shown = [(label, unhedged(value)) for key, label, value in facts if not _hidden(entry, key)]
    for label, (value, _) in shown[:3]:
        lines.append(f"{label}：{value}")
    hedged = any(had for _, (_, had) in shown[:3])
    if any(_hidden(entry, key) for key, _, _ in facts):
        lines.append(SAMPLE_CONTACTS_HIDDEN)
    notes, disclaimed = _notes(entry, "\n".join(lines), disclaimer_shown, hedged)
    lines.extend(notes)
    lines.append(f"来源：{source_name(entry)}")
    return "\n".join(lines), disclaimed


def _speaks_of(aspect: Aspect, value: object) -> bool:
    return not aspect.strict or aspect.keywords is None or bool(aspect.keywords.search(str(value)))


def format_aspect(
    entry: Entry, aspect: Aspect, *, disclaimer_shown: bool = False, sentences: bool = True
) -> tuple[str, bool] | None:
    """Only the part of ``entry`` that answers ``aspect`` ("要带啥材料?"), or None if the entry lacks it.

    A field answers first; else, with ``sentences``, the entry's own sentences that speak of it. For a yes/no
    about one facet (``aspect.strict``: 网上能办伐, 儿子能代办伐) the sentences come first, and a field
    answers only if it speaks of that facet."""
    key = next((k for k in aspect.fields if entry.fields.get(k) and _speaks_of(aspect, entry.fields[k])), None)
    said = sentences_about(entry, aspect) if sentences and (key is None or aspect.strict) else []
    subject = f"「{entry.title}」"
    hedged = False
    if key is None and entry.sample and aspect.name in CONTACT_FIELDS and not show_sample_contacts():
        lines = [SAMPLE_CONTACTS_HIDDEN]  # whatever a sample entry says of its place is sample data too
    elif said:
        # The entry's own sentences ("长者食堂一般中午供餐" for 几点开饭, "子女也可以代办" for 儿子能代办伐).
        lines = [f"关于{subject}：", *said]
    elif key is None:
        return None
    elif _hidden(entry, key):
        lines = [f"{subject}的{aspect.label}是示例数据，我不能当真告诉您。", SAMPLE_CONTACTS_HIDDEN]
    elif key == "documents":
        lines = [f"{subject}要带的材料："]
        lines.extend(f"{i}. {doc}" for i, doc in enumerate(entry.fields["documents"], start=1))
    else:
        value, hedged = unhedged(entry.fields[key])
        lines = [f"{subject}的{aspect.label}：{value}"]
    notes, disclaimed = _notes(entry, "\n".join(lines), disclaimer_shown, hedged)
    lines.extend(notes)
    lines.append(f"来源：{source_name(entry)}")
    return "\n".join(lines), disclaimed


STREET_QUESTION = "每个街道、镇都有。您住哪个街道或镇？请回复数字，或者直接告诉我您住哪个街道："


def ask_street(entry: Entry, aspect: Aspect, streets: tuple[str, ...]) -> str:
    """The place depends on the senior's street, which is not known: say the kind of place, ask which street."""
    lines = []
    key = next((k for k in aspect.fields if entry.fields.get(k)), None)
    if key is not None and not _hidden(entry, key):
        lines.append(f"「{entry.title}」的{aspect.label}：{unhedged(entry.fields[key])[0]}")
    lines.append(STREET_QUESTION)
    lines.extend(f"{i}. {street}" for i, street in enumerate(streets, start=1))
    return "\n".join(lines)


def street_places(entry: Entry, street: str, places: list[Entry], kinds: tuple[str, ...]) -> str:
    """Where to go in ``street`` for ``entry``: that street's places of the kinds ``entry`` names."""
    if not places:
        wanted = "、".join(kinds)
        return f"{street}的{wanted}，我这里还没有资料。请打 {HOTLINE} 问，或者问居委会。"
    lines = [f"您住{street}，「{entry.title}」可以去："]
    lines.extend(f"{i}. {place.title.replace('（示例）', '')}" for i, place in enumerate(places, start=1))
    if any(p.sample for p in places) and not show_sample_contacts():
        lines.append(f"具体地址、电话和开放时间，请打 {HOTLINE} 问，或者问居委会。")
    else:
        for place in places:
            facts = [
                f"{FIELD_LABELS[k]}：{place.fields[k]}" for k in ("place", "phone", "hours") if place.fields.get(k)
            ]
            if facts:
                lines.append(f"{place.title}：" + "；".join(facts))
        if any(p.sample for p in places):
            lines.append(SAMPLE_NOTE)
    return "\n".join(lines)


def more_about(entry: Entry, others: list[Entry]) -> str:
    """ "还有别的吗": the other entries about the same subject, as numbered choices."""
    if not others:
        return f"关于「{entry.title}」，我这里就这些了。{OFFER_PERSON}"
    lines = [f"关于「{entry.title}」，还可以问："]
    lines.extend(f"{i}. {other.title}" for i, other in enumerate(others, start=1))
    lines.append("请回复数字。")
    return "\n".join(lines)


SHORT_LEAD = "简单说："
SHORT_CHARS = 60


def short_version(entry: Entry, max_chars: int = SHORT_CHARS) -> str:
    """The entry's answer in short ("讲得简单点"): its first sentences, about ``max_chars`` characters at most."""
    kept: list[str] = []
    for sentence in _SENTENCE.findall(entry.answer):
        sentence = sentence.strip()
        if not sentence:
            continue
        if kept and len("".join(kept)) + len(sentence) > max_chars:
            break
        kept.append(sentence)
    return SHORT_LEAD + "".join(kept)


ASK_WHERE = f"拿不准的，可以打 {HOTLINE} 问，或者到{SERVICE_CENTRE}问。"


def kind_list(kind: str, entries: list[Entry]) -> str:
    """A broad question ("老年人有啥保险"): the kind's main topics as numbered choices."""
    lines = [f"{kind}方面，常问的有这些："]
    lines.extend(f"{i}. {entry.title}" for i, entry in enumerate(entries, start=1))
    lines.append("想知道哪一样，请回复数字。")
    lines.append(ASK_WHERE)
    return "\n".join(lines)


def _label(said: str, entry: Entry) -> str:
    return said if 2 <= len(said) <= 8 else entry.title


def pair_answers(parts: list[tuple[str, Entry]], *, compared: bool) -> str:
    """Two topics in one question: each one's answer in short, numbered; then where to ask which suits."""
    lines = ["这两样不是一回事，分开说：" if compared else "您问了两样，分开说："]
    for i, (said, entry) in enumerate(parts, start=1):
        lines.append(f"{i}. {_label(said, entry)}：{short_version(entry).removeprefix(SHORT_LEAD)}")
    lines.append("想细问哪一样，请回复数字。")
    if compared:
        lines.append(f"哪样更适合您，要看您自己的情况，可以打 {HOTLINE} 问，或者到{SERVICE_CENTRE}问。")
    else:
        lines.append(ASK_WHERE)
    return "\n".join(lines)


SITUATION_NOTE = f"您的情况能不能办，最后以官方审核为准，可以打 {HOTLINE} 问，或者到{SERVICE_CENTRE}问。"


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


NOT_COVERED = "这个我这里还没有资料，不敢乱讲，怕耽误您。"


def not_covered(hits: list[Hit], entries: dict[str, Entry]) -> Reply:
    """No entry speaks of what was asked (knowledge_base/relevance.py): say so first, then where to ask, then
    the close entries as numbered choices, in case one of them is what was meant."""
    live = [h for h in hits if h.id in entries]
    lines = [NOT_COVERED, OFFER_PERSON]
    choices = tuple(h.id for h in live[:3])
    if choices:
        lines.append("您是想问下面这些吗：")
        lines.extend(f"{i}. {entries[c].title}" for i, c in enumerate(choices, start=1))
        lines.append("是的话请回复数字。")
    return Reply("\n".join(lines), None, False, live[0].score if live else 0.0, choices)


def compose(hits: list[Hit], entries: dict[str, Entry], threshold: float, *, disclaimer_shown: bool = False) -> Reply:
    live = [h for h in hits if h.id in entries]
    if live and live[0].score >= threshold:
        top = live[0]
        text, disclaimed = format_entry(entries[top.id], disclaimer_shown=disclaimer_shown)
        return Reply(text, top.id, True, top.score, disclaimed=disclaimed)
    return not_sure(hits, entries)
