"""action_booking_intake: acknowledge a booking request with what was understood.

The booking form (slots, read-back, writing the booking) is built on this intent in a
later step; until then the user is told plainly how to book today.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

LABELS = (("service", "服务"), ("datetime", "时间"), ("street", "地点"))


class ActionBookingIntake(Action):
    def name(self) -> str:
        return "action_booking_intake"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        understood = []
        for entity, label in LABELS:
            value = next(tracker.get_latest_entity_values(entity), None)
            if value:
                understood.append(f"{label}：{value}")
        lines = ["好的，您想预约服务。"]
        if understood:
            lines.append("我听到的是：" + "，".join(understood) + "。")
        lines.append("在这里直接预约的功能还在准备中。现在请您：")
        lines.append("1. 拨打 12345 市民服务热线；")
        lines.append("2. 或到街道社区事务受理服务中心预约。")
        dispatcher.utter_message(text="\n".join(lines))
        return []
