"""网格员 (grid workers): who is told, by SMS, when a senior's 每日平安 goes unanswered twice.

The list is a YAML file (``care/grid_workers.yml``, or the file ``CARE_GRID_WORKERS_FILE`` names), one
entry per grid worker and street or town (街道/镇) of Baoshan::

    grid_workers:
      - street: 顾村镇          # a street or town of yinling/places.py (short forms such as 顾村 work)
        name: 顾村镇网格员      # how the agents' tools would show them; never sent anywhere
        phone: "138 0000 0001"  # a mainland mobile number; sent to through the SMS gateway
        sample: true            # invented: listed, never texted

Entries marked ``sample: true`` are sample data: they are loaded and checked like the others but
never sent to, so the shipped sample file cannot text a stranger's number. A deployment names its
real file with ``CARE_GRID_WORKERS_FILE``.

The assistant knows a senior's street, not their 居委/村, so the list is kept per street or town;
several grid workers of one street are all told.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers
import yaml

from care.errors import CareConfigError
from common.contacts import phone_in_groups
from yinling.places import STREETS, find_street

DEFAULT_FILE = Path(__file__).resolve().parent / "grid_workers.yml"


@dataclass(frozen=True)
class GridWorker:
    street: str
    name: str = field(repr=False)
    phone: str = field(repr=False)  # E.164, e.g. +8613800000001
    sample: bool = False

    @property
    def address(self) -> str:
        """The outbox recipient: the SMS sender (care/senders.py)."""
        return f"sms:{self.phone}"


@dataclass(frozen=True)
class GridWorkers:
    entries: tuple[GridWorker, ...] = ()

    def for_street(self, street: str | None) -> list[GridWorker]:
        """The grid workers to text for ``street`` (sample entries never)."""
        if not street:
            return []
        return [w for w in self.entries if w.street == street and not w.sample]

    @classmethod
    def load(cls, path: Path) -> GridWorkers:
        where = str(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as err:
            raise CareConfigError(
                f"{where}: cannot be read ({type(err).__name__}); check CARE_GRID_WORKERS_FILE"
            ) from err
        except yaml.YAMLError as err:
            raise CareConfigError(f"{where}: not valid YAML") from err
        if not isinstance(data, dict) or not isinstance(data.get("grid_workers", []), list):
            raise CareConfigError(f"{where}: expected a mapping with a list under grid_workers")
        unknown = sorted(set(data) - {"grid_workers"})
        if unknown:
            raise CareConfigError(f"{where}: unknown key {', '.join(unknown)}; known: grid_workers")
        return cls(tuple(_entry(where, i, raw) for i, raw in enumerate(data.get("grid_workers") or [])))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GridWorkers:
        name = env.get("CARE_GRID_WORKERS_FILE") or ""
        return cls.load(Path(name) if name else DEFAULT_FILE)


def _entry(where: str, index: int, raw: Any) -> GridWorker:
    at = f"{where}: grid_workers[{index}]"
    if not isinstance(raw, dict):
        raise CareConfigError(f"{at}: expected a mapping with street, name, phone")
    unknown = sorted(set(raw) - {"street", "name", "phone", "sample"})
    if unknown:
        raise CareConfigError(f"{at}: unknown key {', '.join(unknown)}; known: street, name, phone, sample")
    street = find_street(str(raw.get("street") or ""))
    if street is None:
        raise CareConfigError(f"{at}.street: not a street or town of Baoshan (one of {'、'.join(STREETS)})")
    name = str(raw.get("name") or "").strip()
    if not name:
        raise CareConfigError(f"{at}.name: required")
    try:
        number = phonenumbers.parse(str(raw.get("phone") or ""), "CN")
    except phonenumbers.NumberParseException as err:
        raise CareConfigError(f"{at}.phone: not a phone number, e.g. 138 0000 0001") from err
    mobile = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
    if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in mobile:
        raise CareConfigError(f"{at}.phone: a mainland mobile number is needed for SMS, e.g. 138 0000 0001")
    sample = raw.get("sample", False)
    if not isinstance(sample, bool):
        raise CareConfigError(f"{at}.sample: true or false")
    return GridWorker(street, name, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), sample)


def phone_words(phone: str) -> str:
    """A number as people read it: +8613812345678 or 13812345678 → "138 1234 5678"; others unchanged."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return phone_in_groups(digits) if len(digits) == 11 and digits.startswith("1") else phone
