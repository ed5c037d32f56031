"""Proactive care (app runtime): reminders, the daily check-in (每日平安), family links, escalation.

- :mod:`care.db` — the tables. They live in the booking database (``BOOKINGS_DATABASE_URL`` …), so
  a booking and its reminders are written in one transaction.
- :mod:`care.outbox` — the transactional outbox and the worker that sends it (retries with
  exponential backoff, a lease per message so a crashed worker's message is sent again).
- :mod:`care.senders` — one sender per channel (Telegram, WeChat, web chat, SMS, the agents' queue).
- :mod:`care.scheduler` — due jobs (reminders, check-in questions, follow-ups, alerts), each claimed
  by a compare-and-set update and handled in the same transaction that writes its messages.
- :mod:`care.checkin`, :mod:`care.family`, :mod:`care.reminders`, :mod:`care.privacy` — the rules.
- ``python -m care run`` — the scheduler and worker loop that ``make run`` supervises.
"""
