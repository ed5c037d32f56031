"""到场登记: staff record whether a senior came to a booked service (已到 / 未到) once its time has come.

    GET  /attendance                         the page (agents and administrators)
    GET  /api/attendance?days=7              active bookings whose slot started in the last ``days`` days
    POST /api/bookings/{code}/attendance     {"attended": true | false}

Any staff member may take attendance (the front desk, an agent on the phone, an administrator): it is
a fact about a booking, not an act in a conversation, so it needs no claim. The list shows what
finding a senior at the desk needs — the booking code, service, time, place, the contact's surname and
the last four digits of the phone — never the full name or number.

A booking whose slot has not started yet, or that was cancelled, is refused (409) with the reason in
words; marking again replaces the earlier mark. The POST is a state-changing request like every other:
with a session it needs the page's CSRF token (``staff.app.AuthGate``). Every mark is audited
(``attendance``: who, which booking and conversation, what was marked); the analytics count the
no-shows per service from the same table (``staff/analytics.py``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel

from bookings.catalog import SHANGHAI, UnknownService
from bookings.store import AttendanceRefused, Booking, BookingInputError, BookingNotFound, format_code
from staff.app import ApiUser, PageUser, Staff, blocking

MAX_DAYS = 31


class AttendanceBody(BaseModel):
    attended: bool


def surname(name: str) -> str:
    """ "王桂芳" → "王**": enough to match the person at the desk, not the whole name."""
    name = name.strip()
    return f"{name[:1]}**" if name else ""


def phone_tail(phone: str) -> str:
    digits = [c for c in phone if c.isdigit()]
    return "".join(digits[-4:])


def install(app: FastAPI, staff: Staff, templates: Jinja2Templates) -> None:
    def names(booking: Booking) -> tuple[str, str]:
        """The service's and the place's names (the codes, for what services.yml no longer has)."""
        slot = booking.slot
        try:
            service = staff.bookings()._catalog.service(slot.service)
        except UnknownService:
            return slot.service, slot.resource
        try:
            return service.name, service.resource(slot.resource).name
        except UnknownService:
            return service.name, slot.resource

    def row(booking: Booking) -> dict[str, Any]:
        service, place = names(booking)
        return {
            "code": format_code(booking.code),
            "service": service,
            "start": booking.slot.start.isoformat(),
            "time": f"{booking.slot.start:%m月%d日 %H:%M}",
            "place": place,
            "contact": surname(booking.contact_name),
            "phone_tail": phone_tail(booking.phone),
            "attended": booking.attended,
            "sample": booking.slot.sample,
        }

    @app.get("/attendance", response_class=HTMLResponse, include_in_schema=False)
    async def attendance_page(request: Request, principal: PageUser) -> Response:
        return templates.TemplateResponse(
            request, "attendance.html", {"user": principal.user, "csrf": principal.csrf, "max_days": MAX_DAYS}
        )

    @app.get("/api/attendance")
    async def attendance_list(_: ApiUser, days: int = Query(7, ge=1, le=MAX_DAYS)) -> dict[str, Any]:
        since = dt.datetime.now(SHANGHAI) - dt.timedelta(days=days)
        bookings = await blocking(lambda: staff.bookings().past_bookings(since))
        return {"days": days, "bookings": [row(b) for b in bookings]}

    @app.post("/api/bookings/{code}/attendance")
    async def mark_attendance(code: str, body: AttendanceBody, principal: ApiUser) -> dict[str, Any]:
        user = principal.user
        try:
            booking = await blocking(lambda: staff.bookings().mark_attendance(code, body.attended, user.username))
        except BookingNotFound as err:
            raise HTTPException(404, {"error": "没有这个预约号，请核对一下。", "reason": "not_found"}) from err
        except AttendanceRefused as refused:
            refused_booking = refused.booking
            if refused_booking.status != "active":
                detail = {"error": "这个预约已经取消了，不用登记到场。", "reason": "cancelled"}
            else:
                start = f"{refused_booking.slot.start:%m月%d日 %H:%M}"
                detail = {
                    "error": f"这个预约还没到时间（{start} 开始），到时间以后才能登记来没来。",
                    "reason": "not_yet",
                }
            await blocking(
                lambda: staff.audit.record(
                    user.username,
                    "attendance",
                    conversation_id=refused_booking.channel_user,
                    target=refused_booking.code,
                    outcome="refused",
                    details={"attended": body.attended, "reason": detail["reason"]},
                )
            )
            raise HTTPException(409, detail) from refused
        except BookingInputError as err:
            raise HTTPException(422, {"error": str(err)}) from err
        await blocking(
            lambda: staff.audit.record(
                user.username,
                "attendance",
                conversation_id=booking.channel_user,
                target=booking.code,
                details={"attended": body.attended, "slot": booking.slot.id, "service": booking.slot.service},
            )
        )
        return {"status": "marked", "booking": row(booking)}
