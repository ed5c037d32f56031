"""Bookings: bookable services, schedules, Chinese date/time parsing, the booking store."""
