"""Sentences for people, read from domain/care.yml (the one place the project keeps wording)."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import yaml

DOMAIN = Path(__file__).resolve().parent.parent / "domain" / "care.yml"


@functools.cache
def _responses() -> dict[str, str]:
    data = yaml.safe_load(DOMAIN.read_text(encoding="utf-8"))
    return {name: str(variants[0]["text"]) for name, variants in (data.get("responses") or {}).items()}


def say(name: str, **values: Any) -> str:
    """The response ``name`` with its {placeholders} filled; a missing value is a bug, so it raises."""
    return _responses()[name].format(**values)


def consent_wording(purpose: str) -> str:
    """A short fingerprint of the consent text a person agrees to for ``purpose`` (``utter_care_consent_…``):
    kept with each consent, so a changed text is asked again (care.service.Care.consent_state)."""
    return hashlib.sha256(_responses()[f"utter_care_consent_{purpose}"].encode()).hexdigest()[:16]
