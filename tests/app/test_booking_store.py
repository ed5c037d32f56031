from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bookings import catalog
from bookings.catalog import SHANGHAI, STREETS, BookingError, ServiceConfigError, UnknownService, load_catalog
from bookings.store import (
    AttendanceRefused,
    Booking,
    BookingInputError,
    BookingNotFound,
    BookingStore,
    Slot,
    SlotClosed,
    SlotFull,
    attendance_table,
    bookings_table,
    format_code,
    metadata,
    parse_code,
    slots_table,
)

TODAY = dt.datetime.now(SHANGHAI).date()
TOMORROW = dt.datetime.combine(TODAY + dt.timedelta(days=1), dt.time(0), SHANGHAI)
RACERS = 32


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bookings.sqlite'}"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
def store(url: str) -> Iterator[BookingStore]:
    bookings = BookingStore(url)
    bookings.ensure_schedule(TODAY, days=14)
    yield bookings
    bookings.dispose()


def first_slot(
    store: BookingStore, service: str, street: str | None = None, at: dt.time | None = None, skip: int = 0
) -> Slot:
    """A slot from tomorrow on (so none has started), optionally at a given local time."""
    slots = [
        s
        for s in store.find_slots(service, TOMORROW, TOMORROW + dt.timedelta(days=10), street=street)
        if at is None or s.start.time() == at
    ]
    return slots[skip]


def book(store: BookingStore, slot: Slot, user: str, key: str | None = None) -> Booking:
    return store.book(slot.id, user, "王阿姨", "13800001234", "轮椅进出", idempotency_key=key)


def active_bookings(url: str, slot_id: int | None = None) -> list[tuple[int, int]]:
    """(slot_id, seat) of every active booking, read straight from the table."""
    engine = sa.create_engine(url)
    b = bookings_table.c
    stmt = sa.select(b.slot_id, b.seat).where(b.status == "active")
    if slot_id is not None:
        stmt = stmt.where(b.slot_id == slot_id)
    with engine.connect() as conn:
        rows = [(r.slot_id, r.seat) for r in conn.execute(stmt)]
    engine.dispose()
    return rows


def race(url: str, attempt: Callable[[BookingStore, int], str], racers: int = RACERS) -> Counter[str]:
    """``racers`` threads, each with its own store (own engine and connections), released at once."""
    stores = [BookingStore(url) for _ in range(racers)]
    barrier = threading.Barrier(racers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcome = attempt(stores[i], i)
        except SlotFull:
            outcome = "full"
        except Exception as err:
            outcome = f"error: {err!r}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for s in stores:
        s.dispose()
    return Counter(outcomes)


# -- catalog -----------------------------------------------------------------------------------


def test_every_service_is_configured_as_sample_data_in_baoshan() -> None:
    services = catalog.default_catalog().services
    assert set(services) == {"bath", "meal", "home_care", "notary", "travel", "dementia_screening", "day_care_trial"}
    assert "SAMPLE DATA" in catalog.DEFAULT_PATH.read_text(encoding="utf-8")[:600]
    for service in services.values():
        for resource in service.resources:
            assert resource.sample is True and "示例" in resource.name
            assert resource.street in STREETS


def test_generated_slots_follow_the_weekly_hours() -> None:
    slots = list(catalog.generate_slots(TODAY, days=14))
    assert all(s.start.utcoffset() == dt.timedelta(hours=8) for s in slots)
    bath = [s for s in slots if s.service == "bath"]
    assert {s.start.weekday() for s in bath} == set(range(6))  # Mon–Sat
    assert {s.start.hour for s in bath} == set(range(9, 16)) and all(
        s.end - s.start == dt.timedelta(hours=1) for s in bath
    )
    meal = {(s.start.time(), s.end.time()) for s in slots if s.service == "meal"}
    assert meal == {(dt.time(11), dt.time(12, 30)), (dt.time(17), dt.time(18))}
    notary = [s for s in slots if s.service == "notary"]
    assert all(s.start.weekday() < 5 and s.end - s.start == dt.timedelta(minutes=30) for s in notary)
    care = [s for s in slots if s.service == "home_care"]
    assert all(s.end - s.start == dt.timedelta(hours=2) for s in care)
    travel = [s for s in slots if s.service == "travel"]
    assert 2 <= len(travel) / 2 <= 4 and all(20 <= s.capacity <= 30 for s in travel)  # a few departures a week


@pytest.mark.parametrize(
    ("word", "code"),
    [
        ("助浴", "bath"),
        ("洗澡", "bath"),
        ("洗浴", "bath"),
        ("帮我约个上门洗澡", "bath"),
        ("上门护理", "home_care"),
        ("护工", "home_care"),
        ("護工", "home_care"),  # traditional characters
        ("公证", "notary"),
        ("遗瞩公正", "notary"),  # the typos users make
        ("旅游", "travel"),
        ("老邮所乐旅游线", "travel"),
        ("体检", "dementia_screening"),
        ("筛查", "dementia_screening"),
        ("长者食堂", "meal"),
        ("日托", "day_care_trial"),
        ("ＢＡＴＨ", "bath"),
        ("陪诊", None),  # a service, but not bookable here
        ("护工帮我洗澡", None),  # two services equally likely: ask, do not guess
        ("", None),
    ],
)
def test_find_service_maps_colloquial_words(word: str, code: str | None) -> None:
    assert catalog.find_service(word) == code


def test_config_errors_say_what_to_fix(tmp_path: Path) -> None:
    path = tmp_path / "services.yml"
    path.write_text(
        "services:\n  bath:\n    name: 助浴\n    capacity: 2\n    slot_minutes: 60\n"
        "    hours: {mon-fri: ['09:00-16:30']}\n"
        "    resources: [{id: a, name: 示例, street: 顾村镇}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ServiceConfigError, match="not a whole number of 60-minute slots") as info:
        load_catalog(path)
    assert isinstance(info.value, ValueError) and isinstance(info.value, BookingError)
    path.write_text(path.read_text(encoding="utf-8").replace("顾村镇", "浦东新区"), encoding="utf-8")
    with pytest.raises(ServiceConfigError, match="not one of Baoshan"):
        load_catalog(path)


@pytest.mark.parametrize(
    ("typo", "message"),
    [
        (
            "timezone: Asia/Shanghai\nservice:\n  x: 1\n",
            "the top level: unknown key 'service' (did you mean 'services'?)",
        ),
        ("    slot_minute: 60\n", "services.bath: unknown key 'slot_minute' (did you mean 'slot_minutes'?)"),
        (
            "    colour: red\n",
            "services.bath: unknown key 'colour'; allowed keys: aliases, capacity, description, hours,",
        ),
    ],
)
def test_an_unknown_key_in_services_yml_names_the_key_and_the_file(tmp_path: Path, typo: str, message: str) -> None:
    """A typo in services.yml is never dropped: `slot_minute: 60` would silently make each window one slot."""
    good = (
        "services:\n  bath:\n    name: 助浴\n    capacity: 2\n"
        "    hours: {mon-fri: ['09:00-16:00']}\n"
        "    resources: [{id: a, name: 示例, street: 顾村镇, sample: true}]\n"
    )
    path = tmp_path / "services.yml"
    path.write_text(good, encoding="utf-8")
    assert load_catalog(path).service("bath").resources[0].capacity == 2
    typoed = (
        typo + good if typo.startswith("timezone") else good.replace("    capacity: 2\n", "    capacity: 2\n" + typo)
    )
    path.write_text(typoed, encoding="utf-8")
    with pytest.raises(ServiceConfigError) as info:
        load_catalog(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


def test_an_unknown_key_in_a_resource_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "services.yml"
    path.write_text(
        "services:\n  bath:\n    name: 助浴\n    capacity: 2\n    hours: {mon-fri: ['09:00-16:00']}\n"
        "    resources: [{id: a, name: 示例, street: 顾村镇, smaple: true}]\n",
        encoding="utf-8",
    )
    with pytest.raises(
        ServiceConfigError, match=r"services\.bath\.resources\[0\]: unknown key 'smaple' \(did you mean 'sample'\?\)"
    ):
        load_catalog(path)


def test_the_shipped_services_file_loads() -> None:
    assert len(load_catalog().services) >= 5


# -- schedule ----------------------------------------------------------------------------------


def test_schedule_covers_60_days_is_marked_sample_and_is_idempotent(url: str) -> None:
    store = BookingStore(url)
    expected = list(catalog.generate_slots(TODAY, days=60))
    assert store.ensure_schedule(TODAY, days=60) == len(expected)
    assert store.ensure_schedule(TODAY, days=60) == 0
    c = slots_table.c
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(slots_table)).scalar_one() == len(expected)
        duplicates = conn.execute(
            sa.select(c.service, c.resource, c.starts_at)
            .group_by(c.service, c.resource, c.starts_at)
            .having(sa.func.count() > 1)
        ).all()
        assert duplicates == []
        assert conn.execute(sa.select(sa.func.count()).where(c.sample.is_(False))).scalar_one() == 0
    engine.dispose()
    meal_days = {
        s.start.date()
        for s in store.find_slots("meal", TOMORROW - dt.timedelta(days=1), TOMORROW + dt.timedelta(days=90))
    }
    assert max(meal_days) == TODAY + dt.timedelta(days=59)  # daily service: the 60th day is the last
    assert len(meal_days) in (59, 60)  # today's meals drop out once they have started
    store.dispose()


# -- concurrency -------------------------------------------------------------------------------


def test_32_concurrent_requests_for_the_last_seat_make_exactly_one_booking(store: BookingStore, url: str) -> None:
    slot = first_slot(store, "bath")
    assert slot.capacity == 2
    book(store, slot, "early-bird")

    outcomes = race(url, lambda s, i: s.book(slot.id, f"racer-{i}", "李伯伯", "13900000000").code)

    assert outcomes["full"] == RACERS - 1
    assert sum(n for outcome, n in outcomes.items() if outcome != "full") == 1
    assert not [o for o in outcomes if o.startswith("error")]
    assert sorted(seat for _, seat in active_bookings(url, slot.id)) == [1, 2]


def test_concurrent_requests_fill_a_slot_exactly_to_capacity(store: BookingStore, url: str) -> None:
    slot = first_slot(store, "travel")
    assert slot.capacity < RACERS

    outcomes = race(url, lambda s, i: s.book(slot.id, f"racer-{i}", "周阿娣", "13700000000").code)

    assert outcomes["full"] == RACERS - slot.capacity
    assert len(outcomes) == slot.capacity + 1  # every booking has its own code
    assert sorted(seat for _, seat in active_bookings(url, slot.id)) == list(range(1, slot.capacity + 1))


def _book_in_child(url: str, slot_id: int, i: int, barrier: Any, results: Any) -> None:
    store = BookingStore(url)  # after fork: engines are never shared across processes
    barrier.wait()
    try:
        results.put(store.book(slot_id, f"process-{i}", "赵老师", "13600000000").code)
    except SlotFull:
        results.put("full")
    except Exception as err:
        results.put(f"error: {err!r}")
    store.dispose()


def test_32_processes_for_the_last_seat_make_exactly_one_booking(store: BookingStore, url: str) -> None:
    slot = first_slot(store, "bath", skip=1)
    book(store, slot, "early-bird")
    store.dispose()  # no pooled connection may be inherited by the children
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(RACERS), context.Queue()
    processes = [
        context.Process(target=_book_in_child, args=(url, slot.id, i, barrier, results)) for i in range(RACERS)
    ]
    for process in processes:
        process.start()
    outcomes = Counter(results.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(timeout=30)

    assert outcomes["full"] == RACERS - 1
    assert sum(n for outcome, n in outcomes.items() if re.fullmatch(r"[1-9]\d{5}", outcome)) == 1
    assert sorted(seat for _, seat in active_bookings(url, slot.id)) == [1, 2]


# -- idempotency -------------------------------------------------------------------------------


def test_the_same_idempotency_key_twice_returns_the_same_booking(store: BookingStore, url: str) -> None:
    slot = first_slot(store, "meal")
    first = book(store, slot, "wx:o123", key="wechat:o123:msg-1:form-abc")
    again = book(store, slot, "wx:o123", key="wechat:o123:msg-1:form-abc")
    other = book(store, slot, "wx:o123", key="wechat:o123:msg-2:form-abc")

    assert again.code == first.code and other.code != first.code
    assert len(active_bookings(url, slot.id)) == 2
    assert [e.kind for e in store.history(first.code, "wx:o123")] == ["booked"]


def test_the_same_idempotency_key_delivered_concurrently_books_once(store: BookingStore, url: str) -> None:
    slot = first_slot(store, "meal")
    outcomes = race(url, lambda s, i: book(s, slot, "tg:42", key="telegram:42:update-7:form-x").code, racers=16)

    assert len(outcomes) == 1 and next(iter(outcomes.values())) == 16
    assert active_bookings(url, slot.id) == [(slot.id, 1)]


def test_a_key_raced_across_different_slots_still_books_once(store: BookingStore, url: str) -> None:
    # Different slots take different slot locks, so only the unique key (and a retry) decides.
    slots = store.find_slots("meal", TOMORROW, TOMORROW + dt.timedelta(days=3))[:8]
    outcomes = race(url, lambda s, i: book(s, slots[i], "tg:43", key="telegram:43:update-9").code, racers=8)

    assert len(outcomes) == 1 and next(iter(outcomes.values())) == 8
    assert len(active_bookings(url)) == 1


# -- cancel and reschedule ---------------------------------------------------------------------


def test_cancel_frees_the_seat_and_only_the_owner_can_cancel(store: BookingStore, url: str) -> None:
    slot = first_slot(store, "bath")
    mine = book(store, slot, "owner")
    book(store, slot, "neighbour")
    with pytest.raises(SlotFull) as full:
        book(store, slot, "latecomer")
    assert full.value.slot.id == slot.id and full.value.slot.free == 0

    with pytest.raises(BookingNotFound):
        store.cancel(mine.code, "neighbour")
    assert store.get(mine.code, "owner").active

    cancelled = store.cancel(format_code(mine.code), "owner")  # "385 217" as read over the phone
    assert cancelled.status == "cancelled" and store.slot(slot.id).free == 1
    assert store.cancel(mine.code, "owner").status == "cancelled"  # a repeated cancel is harmless
    assert book(store, slot, "latecomer").seat == mine.seat
    assert [e.kind for e in store.history(mine.code, "owner")] == ["booked", "cancelled"]
    assert store.list_for_user("owner") == []
    assert [b.code for b in store.list_for_user("owner", include_cancelled=True)] == [mine.code]


def test_reschedule_moves_the_booking_in_one_step(store: BookingStore) -> None:
    old, new = first_slot(store, "bath"), first_slot(store, "bath", skip=1)
    booking = book(store, old, "owner")

    moved = store.reschedule(booking.code, "owner", new.id)

    assert moved.code == booking.code and moved.slot.id == new.id and moved.active
    assert store.slot(old.id).booked == 0 and store.slot(new.id).booked == 1
    history = store.history(booking.code, "owner")
    assert [(e.kind, e.slot_id, e.previous_slot_id) for e in history][-1] == ("rescheduled", new.id, old.id)
    with pytest.raises(BookingNotFound):
        store.reschedule(booking.code, "stranger", old.id)
    with pytest.raises(BookingInputError):
        store.reschedule(booking.code, "owner", first_slot(store, "meal").id)


def test_reschedule_into_a_full_slot_changes_nothing(store: BookingStore) -> None:
    current, full = first_slot(store, "bath"), first_slot(store, "bath", skip=1)
    booking = book(store, current, "owner")
    book(store, full, "a")
    book(store, full, "b")

    with pytest.raises(SlotFull):
        store.reschedule(booking.code, "owner", full.id)

    unchanged = store.get(booking.code, "owner")
    assert (unchanged.slot.id, unchanged.seat, unchanged.status) == (current.id, booking.seat, "active")
    assert store.slot(current.id).booked == 1 and store.slot(full.id).booked == 2
    assert [e.kind for e in store.history(booking.code, "owner")] == ["booked"]


# -- alternatives ------------------------------------------------------------------------------


def test_alternatives_are_nearest_first_same_street_first_and_never_full(store: BookingStore) -> None:
    noon = first_slot(store, "bath", street="顾村镇", at=dt.time(12))
    one_pm = first_slot(store, "bath", street="顾村镇", at=dt.time(13))
    assert noon.start.date() == one_pm.start.date()
    for slot in (noon, one_pm):
        book(store, slot, "a")
        book(store, slot, "b")

    offered = store.alternatives("bath", noon.start, street="顾村镇", n=3)

    assert [(s.street, s.start.hour) for s in offered] == [("顾村镇", 11), ("顾村镇", 10), ("顾村镇", 14)]
    assert all(s.free > 0 for s in offered)
    anywhere = store.alternatives("bath", noon.start, n=3)
    assert all(s.start == noon.start and s.street != "顾村镇" for s in anywhere)  # other centres, same hour
    distances = [abs(s.start - noon.start) for s in store.alternatives("bath", noon.start, n=20)]
    assert distances == sorted(distances)


# -- rules around the edges --------------------------------------------------------------------


def test_started_slots_are_neither_offered_nor_bookable(url: str, store: BookingStore) -> None:
    slot = first_slot(store, "bath")
    later = BookingStore(url, clock=lambda: slot.start + dt.timedelta(minutes=1))
    with pytest.raises(SlotClosed):
        book(later, slot, "owner")
    assert slot.id not in {s.id for s in later.find_slots("bath", TOMORROW, TOMORROW + dt.timedelta(days=2))}
    later.dispose()


def test_bookings_survive_a_restart(url: str, store: BookingStore) -> None:
    booking = book(store, first_slot(store, "notary"), "owner")
    store.dispose()
    reopened = BookingStore(url)
    assert reopened.get(booking.code, "owner").slot.id == booking.slot.id
    reopened.dispose()


def test_the_database_refuses_two_active_bookings_for_one_seat(store: BookingStore, url: str) -> None:
    slot = first_slot(store, "bath")
    booking = book(store, slot, "owner")
    now = dt.datetime.now(dt.timezone.utc)
    twin = {
        "slot_id": slot.id,
        "seat": booking.seat,
        "channel_user": "x",
        "contact_name": "x",
        "phone": "x",
        "status": "active",
        "created_at": now,
        "updated_at": now,
    }
    engine = sa.create_engine(url)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(bookings_table.insert().values(code="999999", **twin))
    store.cancel(booking.code, "owner")
    with engine.begin() as conn:  # a cancelled booking keeps its seat number without blocking it
        conn.execute(bookings_table.insert().values(code="999999", **twin))
    engine.dispose()


def test_codes_are_six_random_digits_readable_over_the_phone(store: BookingStore) -> None:
    slot = first_slot(store, "meal")
    codes = [book(store, slot, f"user-{i}").code for i in range(slot.capacity)]
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"[1-9]\d{5}", code) for code in codes)
    assert format_code("385217") == "385 217"
    assert parse_code("３８５ ２１７") == parse_code("385-217") == "385217"
    assert parse_code("085217") is None and parse_code("38521") is None


def test_no_personal_data_reaches_the_log(store: BookingStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="bookings")
    first, second = first_slot(store, "bath"), first_slot(store, "bath", skip=1)
    booking = store.book(first.id, "wx:openid-secret", "陈美华", "13512345678", "住三楼没有电梯")
    store.reschedule(booking.code, "wx:openid-secret", second.id)
    store.cancel(booking.code, "wx:openid-secret")

    assert booking.code in caplog.text
    for personal in ("wx:openid-secret", "陈美华", "13512345678", "住三楼"):
        assert personal not in caplog.text
        assert personal not in repr(booking)


def test_bad_input_is_refused_with_booking_errors(store: BookingStore) -> None:
    slot = first_slot(store, "bath")
    with pytest.raises(BookingInputError):
        store.find_slots("bath", dt.datetime(2030, 1, 1), dt.datetime(2030, 1, 2))  # naive
    with pytest.raises(BookingInputError):
        store.book(slot.id, "u", "王阿姨", "1" * 40)
    with pytest.raises(UnknownService):
        store.find_slots("massage", TOMORROW, TOMORROW + dt.timedelta(days=1))
    with pytest.raises(BookingNotFound):
        store.cancel("not a code", "u")
    assert issubclass(SlotFull, BookingError) and issubclass(UnknownService, BookingError)


# -- attendance (已到 / 未到) --------------------------------------------------------------------


def test_attendance_is_taken_once_the_time_has_come_and_can_be_corrected(url: str, store: BookingStore) -> None:
    slot = first_slot(store, "bath")
    booking = book(store, slot, "owner")
    with pytest.raises(AttendanceRefused, match="not yet"):
        store.mark_attendance(booking.code, False, "xiaoli")
    assert store.get(booking.code, "owner").attended is None
    later = BookingStore(url, clock=lambda: slot.start + dt.timedelta(minutes=1))
    assert later.mark_attendance(format_code(booking.code), False, "xiaoli").attended is False
    assert later.mark_attendance(booking.code, True, "laowang").attended is True  # a slip corrected
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(attendance_table.c.attended, attendance_table.c.marked_by)).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(True, "laowang")], "one row per booking, the latest mark"
    past = later.past_bookings(slot.start - dt.timedelta(hours=1))
    assert [(b.code, b.attended) for b in past] == [(booking.code, True)]
    assert store.past_bookings(slot.start - dt.timedelta(hours=1)) == [], "not started yet: not listed"
    later.dispose()


def test_attendance_is_refused_for_a_cancelled_or_unknown_booking(url: str, store: BookingStore) -> None:
    slot = first_slot(store, "notary")
    booking = book(store, slot, "owner")
    store.cancel(booking.code, "owner")
    later = BookingStore(url, clock=lambda: slot.start + dt.timedelta(hours=1))
    with pytest.raises(AttendanceRefused, match="cancelled"):
        later.mark_attendance(booking.code, False, "xiaoli")
    with pytest.raises(BookingNotFound):
        later.mark_attendance("999 999" if booking.code != "999999" else "888 888", False, "xiaoli")
    assert later.past_bookings(slot.start - dt.timedelta(hours=1)) == [], "cancelled bookings take no attendance"
    later.dispose()


def test_a_database_made_before_attendance_existed_gets_its_table_on_start(url: str) -> None:
    engine = sa.create_engine(url)
    older = [t for t in metadata.sorted_tables if t.name != "booking_attendance"]
    metadata.create_all(engine, tables=older)
    assert "booking_attendance" not in sa.inspect(engine).get_table_names()
    store = BookingStore(url)
    assert "booking_attendance" in sa.inspect(engine).get_table_names()
    store.dispose()
    engine.dispose()
