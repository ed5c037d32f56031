"""The bookable services (``bookings/services.yml``) and the slots their weekly hours produce.

Adding a bookable service is an entry in services.yml, not code: the file is the registry.
Everything in the shipped file is sample data (see its header).
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from common.errors import ConfigError, Refusal, YinlingError
from textnorm import normalize
from yinling.places import STREETS

DEFAULT_PATH = Path(__file__).resolve().parent / "services.yml"


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CODE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
# Every key services.yml may use, per level: any other is a typo that must not be dropped silently.
_FILE_KEYS = frozenset({"timezone", "services"})
_SCHEDULE_KEYS = frozenset({"hours", "slot_minutes", "capacity"})
_SERVICE_KEYS = frozenset({"name", "description", "aliases", "resources"}) | _SCHEDULE_KEYS
_RESOURCE_KEYS = frozenset({"id", "name", "street", "sample"}) | _SCHEDULE_KEYS


def _shanghai() -> dt.tzinfo:
    try:
        return ZoneInfo("Asia/Shanghai")
    except ZoneInfoNotFoundError:
        # No tz database on this machine: Shanghai has had no daylight saving since 1991,
        # so a fixed UTC+8 gives the same times for every slot we generate.
        return dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


SHANGHAI = _shanghai()


class BookingError(YinlingError):
    """Root of every error raised by the bookings package (see common.errors for the families)."""


class ServiceConfigError(BookingError, ConfigError):
    """services.yml is malformed; the message names the entry and what to change."""


class UnknownService(BookingError, Refusal, LookupError):
    """No bookable service has this code."""


@dataclass(frozen=True, slots=True)
class Window:
    """One opening window on some weekdays (0 = Monday)."""

    weekdays: frozenset[int]
    start: dt.time
    end: dt.time

    @property
    def minutes(self) -> int:
        return (self.end.hour * 60 + self.end.minute) - (self.start.hour * 60 + self.start.minute)


@dataclass(frozen=True, slots=True)
class Resource:
    """A place or a pool of people that serves bookings, with its own hours and capacity."""

    id: str
    name: str
    street: str
    sample: bool
    windows: tuple[Window, ...]
    slot_minutes: int | None  # None: each window is one slot
    capacity: int


@dataclass(frozen=True, slots=True)
class Service:
    code: str
    name: str
    description: str
    aliases: tuple[str, ...]
    resources: tuple[Resource, ...]

    def resource(self, resource_id: str) -> Resource:
        for resource in self.resources:
            if resource.id == resource_id:
                return resource
        raise UnknownService(f"service {self.code!r} has no resource {resource_id!r}")


@dataclass(frozen=True, slots=True)
class GeneratedSlot:
    """A slot as the configuration defines it, before it is stored."""

    service: str
    resource: str
    street: str
    start: dt.datetime  # aware, Asia/Shanghai
    end: dt.datetime
    capacity: int
    sample: bool


class Catalog:
    """The loaded services.yml: services by code, service lookup by word, slot generation."""

    __slots__ = ("_aliases", "services")

    def __init__(self, services: Mapping[str, Service]) -> None:
        self.services = dict(services)
        self._aliases = _alias_index(self.services.values())

    def service(self, code: str) -> Service:
        try:
            return self.services[code]
        except KeyError:
            known = ", ".join(sorted(self.services))
            raise UnknownService(f"no bookable service {code!r}; known: {known}") from None

    def find_service(self, text: str) -> str | None:
        """The service code a user's words refer to, or None when none or several match.

        An exact name, alias or code wins; otherwise the longest alias inside the text
        (so 上门洗澡 beats 洗澡), and a tie between two services is no answer: the
        dialogue should ask rather than guess.
        """
        words = normalize(text).strip()
        if not words:
            return None
        if words in self.services:
            return words
        if words in self._aliases:
            return self._aliases[words]
        hits = [(len(alias), code) for alias, code in self._aliases.items() if alias in words]
        if not hits:
            return None
        longest = max(length for length, _ in hits)
        codes = {code for length, code in hits if length == longest}
        return codes.pop() if len(codes) == 1 else None

    def generate_slots(self, today: dt.date, days: int = 60) -> Iterator[GeneratedSlot]:
        """Every slot from ``today`` through ``today + days - 1``, in time order per resource."""
        for offset in range(days):
            day = today + dt.timedelta(days=offset)
            for service in self.services.values():
                for resource in service.resources:
                    yield from _slots_on(service.code, resource, day)


def _slots_on(service: str, resource: Resource, day: dt.date) -> Iterator[GeneratedSlot]:
    for window in resource.windows:
        if day.weekday() not in window.weekdays:
            continue
        start = dt.datetime.combine(day, window.start, SHANGHAI)
        end_of_window = dt.datetime.combine(day, window.end, SHANGHAI)
        step = dt.timedelta(minutes=resource.slot_minutes or window.minutes)
        while start + step <= end_of_window:
            yield GeneratedSlot(
                service, resource.id, resource.street, start, start + step, resource.capacity, resource.sample
            )
            start += step


def _alias_index(services: Iterable[Service]) -> dict[str, str]:
    index: dict[str, str] = {}
    for service in services:
        for word in (service.name, *service.aliases):
            key = normalize(word).strip()
            owner = index.setdefault(key, service.code)
            if owner != service.code:
                raise ServiceConfigError(
                    f"services.yml: the word {word!r} is listed for both {owner!r} and {service.code!r}; keep it in one"
                )
    return index


# -- parsing services.yml ----------------------------------------------------------------------


def load_catalog(path: Path | str = DEFAULT_PATH) -> Catalog:
    """Read and validate a services file."""
    path = Path(path)
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ServiceConfigError(f"cannot read services file {path}: {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict) or not data["services"]:
        raise ServiceConfigError(f"{path}: expected a mapping with a non-empty 'services' mapping")
    try:
        _check_keys(data, _FILE_KEYS, "the top level")
        if data.get("timezone", "Asia/Shanghai") != "Asia/Shanghai":
            raise ServiceConfigError("timezone must be Asia/Shanghai (all of Baoshan is in it)")
        services = {code: _parse_service(str(code), raw) for code, raw in data["services"].items()}
        return Catalog(services)
    except ServiceConfigError as err:
        raise ServiceConfigError(f"{path}: {err}") from None


def _check_keys(raw: Mapping[Any, Any], allowed: frozenset[str], where: str) -> None:
    """Refuse every key of ``raw`` not in ``allowed``, naming it, a close match and the allowed keys."""
    unknown = sorted(str(key) for key in raw if key not in allowed)
    if not unknown:
        return
    named = []
    for key in unknown:
        close = difflib.get_close_matches(key, sorted(allowed), n=1)
        named.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    raise ServiceConfigError(
        f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(named)}; "
        f"allowed keys: {', '.join(sorted(allowed))}"
    )


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The process-wide catalog (``BOOKINGS_SERVICES_FILE`` or the shipped services.yml)."""
    return load_catalog(os.environ.get("BOOKINGS_SERVICES_FILE", DEFAULT_PATH))


def generate_slots(today: dt.date, days: int = 60) -> Iterator[GeneratedSlot]:
    """Slots of the default catalog for ``days`` days from ``today``."""
    return default_catalog().generate_slots(today, days)


def find_service(text: str) -> str | None:
    """The default catalog's service code for a user's word (助浴, 洗澡, 护工 …), or None."""
    return default_catalog().find_service(text)


def _parse_service(code: str, raw: Any) -> Service:
    where = f"services.{code}"
    if not _CODE.match(code):
        raise ServiceConfigError(f"{where}: codes are lower-case ASCII like 'home_care'")
    if not isinstance(raw, dict):
        raise ServiceConfigError(f"{where}: expected a mapping with name, aliases and resources")
    _check_keys(raw, _SERVICE_KEYS, where)
    name = _text(raw, "name", where)
    aliases = raw.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) and len(a) >= 2 for a in aliases):
        raise ServiceConfigError(f"{where}.aliases: a list of words of at least 2 characters")
    resources_raw = raw.get("resources")
    if not isinstance(resources_raw, list) or not resources_raw:
        raise ServiceConfigError(f"{where}.resources: list at least one place or people pool")
    defaults = {key: raw[key] for key in sorted(_SCHEDULE_KEYS) if key in raw}
    resources = tuple(_parse_resource(r, defaults, f"{where}.resources[{i}]") for i, r in enumerate(resources_raw))
    ids = [r.id for r in resources]
    if len(set(ids)) != len(ids):
        raise ServiceConfigError(f"{where}.resources: ids must be unique within a service, got {ids}")
    return Service(code, name, str(raw.get("description", "")), tuple(aliases), resources)


def _parse_resource(raw: Any, defaults: dict[str, Any], where: str) -> Resource:
    if not isinstance(raw, dict):
        raise ServiceConfigError(f"{where}: expected a mapping with id, name, street")
    _check_keys(raw, _RESOURCE_KEYS, where)
    merged = {**defaults, **raw}
    resource_id = _text(merged, "id", where)
    if not _CODE.match(resource_id):
        raise ServiceConfigError(f"{where}.id: ids are lower-case ASCII like 'bath-gucun'")
    street = _text(merged, "street", where)
    if street not in STREETS:
        raise ServiceConfigError(
            f"{where}.street: {street!r} is not one of Baoshan's streets/towns: {' '.join(STREETS)}"
        )
    sample = merged.get("sample", False)
    if not isinstance(sample, bool):
        raise ServiceConfigError(f"{where}.sample: true or false")
    capacity = _positive_int(merged, "capacity", where)
    slot_minutes = None if merged.get("slot_minutes") is None else _positive_int(merged, "slot_minutes", where)
    windows = _parse_hours(merged.get("hours"), f"{where}.hours")
    for window in windows:
        if slot_minutes and window.minutes % slot_minutes:
            raise ServiceConfigError(
                f"{where}: window {window.start:%H:%M}-{window.end:%H:%M} is not a whole number of "
                f"{slot_minutes}-minute slots; change the window or slot_minutes"
            )
    return Resource(resource_id, _text(merged, "name", where), street, sample, windows, slot_minutes, capacity)


def _parse_hours(raw: Any, where: str) -> tuple[Window, ...]:
    if not isinstance(raw, dict) or not raw:
        raise ServiceConfigError(f'{where}: give opening hours like  mon-fri: ["09:00-16:00"]')
    windows: list[Window] = []
    for days, spans in raw.items():
        weekdays = _parse_days(str(days), where)
        if not isinstance(spans, list) or not spans:
            raise ServiceConfigError(f'{where}.{days}: a list of quoted windows like ["09:00-11:30"]')
        windows.extend(_parse_window(weekdays, span, f"{where}.{days}") for span in spans)
    return tuple(windows)


def _parse_days(spec: str, where: str) -> frozenset[int]:
    if spec == "daily":
        return frozenset(range(7))
    days: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.strip().partition("-")
        if first not in _DAYS or (last and last not in _DAYS):
            raise ServiceConfigError(
                f"{where}: {spec!r} is not a day spec; use mon..sun, ranges (mon-fri), lists (tue,fri) or daily"
            )
        lo, hi = _DAYS.index(first), _DAYS.index(last or first)
        if hi < lo:
            raise ServiceConfigError(f"{where}: day range {part!r} runs backwards")
        days.update(range(lo, hi + 1))
    return frozenset(days)


def _parse_window(weekdays: frozenset[int], span: Any, where: str) -> Window:
    match = _WINDOW.match(span) if isinstance(span, str) else None
    if match is None:
        raise ServiceConfigError(f'{where}: {span!r} is not a window; write "HH:MM-HH:MM" in quotes')
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    try:
        start, end = dt.time(h1, m1), dt.time(h2, m2)
    except ValueError as err:
        raise ServiceConfigError(f"{where}: {span!r}: {err}") from err
    if end <= start:
        raise ServiceConfigError(f"{where}: {span!r} ends before it starts (windows cannot cross midnight)")
    return Window(weekdays, start, end)


def _text(raw: dict[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ServiceConfigError(f"{where}.{key}: required text")
    return value.strip()


def _positive_int(raw: dict[str, Any], key: str, where: str) -> int:
    value = raw.get(key)
    # bool is an int in Python; `capacity: yes` is a mistake, not 1.
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ServiceConfigError(f"{where}.{key}: a whole number of at least 1, got {value!r}")
    return value
