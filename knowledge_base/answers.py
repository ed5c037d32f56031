"""Turn retrieval hits into a reply for an older reader.

The short answer comes first; then the checklist or the key facts as numbered lines;
then a line marking sample data or unsure facts with the official channel; last, the
entry the answer came from. Below the confidence threshold the reply says the bot is
not sure, offers the closest topics as numbered choices, and points to a person.
"""

from __future__ import annotations

from dataclasses import dataclass

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
SAMPLE_NOTE = "（提醒：地址、电话、时间是示例数据，请先打 12345 或问街道社区事务受理服务中心核实。）"
UNSURE_NOTE = "（以上信息仅供参考，以官方最新规定为准，可拨打 12345 或到街道社区事务受理服务中心咨询。）"
NOT_SURE = "这个问题我不太有把握，怕讲错耽误您。"
OFFER_PERSON = "您也可以拨打 12345 市民服务热线，或到街道社区事务受理服务中心问工作人员。"


@dataclass(frozen=True)
class Reply:
    text: str
    entry_id: str | None
    confident: bool
    score: float


def format_entry(entry: Entry) -> str:
    lines = [entry.answer]
    documents = entry.fields.get("documents")
    if documents:
        lines.append("要带的材料：")
        lines.extend(f"{i}. {doc}" for i, doc in enumerate(documents, start=1))
    facts = [(FIELD_LABELS[k], v) for k, v in entry.fields.items() if k in FIELD_LABELS and v]
    for label, value in facts[:3]:
        lines.append(f"{label}：{value}")
    if entry.sample:
        lines.append(SAMPLE_NOTE)
    elif entry.unsure:
        lines.append(UNSURE_NOTE)
    lines.append(f"来源：知识库「{entry.title}」（条目 {entry.id}）")
    return "\n".join(lines)


def compose(hits: list[Hit], entries: dict[str, Entry], threshold: float) -> Reply:
    live = [h for h in hits if h.id in entries]
    if live and live[0].score >= threshold:
        top = live[0]
        return Reply(format_entry(entries[top.id]), top.id, True, top.score)
    lines = [NOT_SURE]
    if live:
        lines.append("您是不是想问：")
        lines.extend(f"{i}. {entries[h.id].title}" for i, h in enumerate(live[:3], start=1))
        lines.append("可以把想问的再讲详细一点。")
    lines.append(OFFER_PERSON)
    return Reply("\n".join(lines), None, False, live[0].score if live else 0.0)
