"""The staff audit trail: who did what, when, to which conversation — in the database only.

Details are facts (ids, lengths, counts, outcomes); message text and personal data are never
put into them, nor into the application log.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from staff.db import StaffDB, audit, now

ACTIONS = frozenset(
    {
        "login",
        "login_failed",
        "logout",
        "claim",
        "reply",
        "hand_back",
        "transfer",
        "send_entry",
        "booking",
        "attendance",
        "mark_answer",
        "ticket_done",
        "kb_change",
        "user_created",
        "password_set",
        "token_created",
        "unclaimed",
    }
)


class Audit:
    def __init__(self, db: StaffDB) -> None:
        self.db = db

    def record(
        self,
        actor: str,
        action: str,
        *,
        conversation_id: str | None = None,
        target: str | None = None,
        outcome: str = "ok",
        details: dict[str, Any] | None = None,
    ) -> None:
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}; add it to staff.audit.ACTIONS")
        with self.db.write() as conn:
            conn.execute(
                audit.insert().values(
                    at=now(),
                    actor=actor[:64],
                    action=action,
                    conversation_id=conversation_id,
                    target=(target or None) and target[:256],
                    outcome=outcome[:32],
                    details=json.dumps(details, ensure_ascii=False, sort_keys=True) if details else None,
                )
            )

    def recent(self, limit: int = 200, conversation_id: str | None = None) -> list[dict[str, Any]]:
        stmt = sa.select(audit).order_by(audit.c.id.desc()).limit(limit)
        if conversation_id is not None:
            stmt = stmt.where(audit.c.conversation_id == conversation_id)
        with self.db.read() as conn:
            rows = conn.execute(stmt).all()
        out = []
        for r in rows:
            item = dict(r._mapping)
            item["at"] = item["at"].isoformat()
            item["details"] = json.loads(item["details"]) if item["details"] else None
            out.append(item)
        return out

    def count(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(audit)).scalar_one())
