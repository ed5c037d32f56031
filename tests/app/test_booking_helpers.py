"""The booking actions' small helpers (actions/bookings.py, booking_common.py, understand.py), one by one."""

from __future__ import annotations

import datetime as dt

import pytest

from actions.booking_common import describe_wanted, time_spec
from actions.bookings import chosen_number, said_code, window
from actions.understand import clean_contact, clean_phone
from bookings.catalog import SHANGHAI
from bookings.timeparse import parse_when
from common.contacts import phone_in_groups

# -- a number chosen from a numbered list -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1", 1),
        ("１", 1),
        ("２号", 2),
        ("②", 2),
        ("③吧", 3),
        ("一", 1),
        ("第一个", 1),
        ("第二个", 2),
        ("选二", 2),
        ("两", 2),
        ("头一个", 1),
        ("就第三个吧", 3),
        ("第三个，麻烦你一下", 3),
        ("三号那个", 3),
        ("我要第十个", 10),
        ("12", 12),
        ("最后一个", -1),
        ("最后那个吧", -1),
    ],
)
def test_the_number_chosen(text: str, number: int) -> None:
    assert chosen_number(text) == number


@pytest.mark.parametrize("text", ["好的", "就那个吧", "对", ""])
def test_no_number_chosen(text: str) -> None:
    assert chosen_number(text) is None


# -- booking codes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("385217", "385217"),
        ("385 217", "385217"),
        ("385-217", "385217"),
        ("３８５　２１７", "385217"),
        ("预约号是385217，帮我取消", "385217"),
        ("取消385 217，我电话13812345678", "385217"),
        ("我电话13812345678，取消385217", "385217"),
    ],
)
def test_a_booking_code_as_said(text: str, code: str) -> None:
    assert said_code(text) == code


@pytest.mark.parametrize(
    "text",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "021-56000101",
        "5600 0101",
        "改到2026-12-10",
        "20261210",
        "012345",  # codes never start with 0
        "3852",
        "12345",
        "1234567",
        "取消预约",
    ],
)
def test_not_a_booking_code(text: str) -> None:
    assert said_code(text) is None


# -- phones and names (a few of test_understand.py's cases, as the booking actions use them) ----


def test_phones_are_read_in_any_digits_and_shown_in_groups() -> None:
    assert clean_phone("电话１３９ １６２３ ４５６７") == "13916234567"
    assert clean_phone("021-56000101") == "02156000101"  # a senior with only a landline can book too
    assert phone_in_groups("02156000101") == "021 5600 0101"
    assert phone_in_groups("13916234567") == "139 1623 4567"
    assert phone_in_groups("12345") == "12345"


def test_names_are_names_and_questions_are_not() -> None:
    assert clean_contact("联系人是黄阿宝") == "黄阿宝"
    assert clean_contact("我自己") == "本人"
    assert clean_contact("要带啥材料啊") is None
    assert clean_contact("13812345678") is None


# -- search windows -----------------------------------------------------------------------------


def at(day: str, hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hh, mm), SHANGHAI)


def test_a_whole_day() -> None:
    assert window("2026-12-02", None) == (at("2026-12-02", 0), at("2026-12-03", 0), None)


def test_a_part_of_the_day() -> None:
    assert window("2026-12-02", "13:00-17:00") == (at("2026-12-02", 13), at("2026-12-02", 17), None)


def test_an_exact_time_looks_an_hour_around_it() -> None:
    start, end, exact = window("2026-12-02", "15:00")
    assert exact == at("2026-12-02", 15)
    assert start == at("2026-12-02", 14, 1) and end == at("2026-12-02", 16)


def test_a_window_is_in_shanghai_time() -> None:
    start, _, _ = window("2026-12-02", "09:30")
    assert start.utcoffset() == dt.timedelta(hours=8)


def test_time_spec_and_read_back_of_what_was_asked() -> None:
    now = at("2026-11-30", 10)
    afternoon = parse_when("12月2号下午", now)
    assert afternoon is not None and time_spec(afternoon) == "13:00-17:00"
    assert describe_wanted("2026-12-02", "13:00-17:00") == "12月2日（星期三）下午"
    three = parse_when("12月2号下午三点半", now)
    assert three is not None and time_spec(three) == "15:30"
    assert describe_wanted("2026-12-02", "15:30") == "12月2日（星期三）下午3点半"
    assert describe_wanted("2026-12-02", None) == "12月2日（星期三）"


@pytest.mark.parametrize(
    ("said", "spec", "read_back"),
    [
        ("12月2号下午两三点", "14:00-16:00", "12月2日（星期三）下午2点到4点之间"),
        ("12月2号两点到三点", "14:00-15:00", "12月2日（星期三）下午2点到3点之间"),
        ("12月2号十一点半到一点", "11:30-13:00", "12月2日（星期三）上午11点半到下午1点之间"),
        ("12月2号十点多", "10:00-11:00", "12月2日（星期三）上午10点到11点之间"),
        ("12月2号十点左右", "10:00", "12月2日（星期三）上午10点"),
        ("12月2号晚上12点", "00:00", "12月2日（星期三）半夜12点"),
        ("12月2号凌晨三点", "03:00", "12月2日（星期三）凌晨3点"),
    ],
)
def test_a_window_of_hours_is_searched_and_read_back_as_a_window(said: str, spec: str, read_back: str) -> None:
    when = parse_when(said, at("2026-11-30", 10))
    assert when is not None and time_spec(when) == spec
    assert describe_wanted("2026-12-02", spec) == read_back
