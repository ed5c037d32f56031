"""The project's domain (domain/*.yml, merged as Rasa merges it) and what a response says once filled.

Actions send response names with values (``dispatcher.utter_message(response=..., **values)``);
the Rasa server fills the response's {placeholders} from the tracker's slots and those values.
:func:`said` does the same here, so that action tests read what the senior would read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
MERGED_LISTS = ("intents", "entities", "actions")
MERGED_MAPS = ("slots", "responses", "forms")


def load_domain() -> dict[str, Any]:
    merged: dict[str, Any] = {key: [] for key in MERGED_LISTS} | {key: {} for key in MERGED_MAPS}
    for path in sorted((ROOT / "domain").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for key in MERGED_LISTS:
            merged[key] += [next(iter(i)) if isinstance(i, dict) else i for i in data.get(key) or []]
        for key in MERGED_MAPS:
            merged[key].update(data.get(key) or {})
    return merged


DOMAIN = load_domain()
INITIAL_SLOTS = {name: spec.get("initial_value") for name, spec in DOMAIN["slots"].items()}


def fill(template: str, values: dict[str, Any]) -> str:
    """Rasa's interpolation (rasa.core.nlg.interpolator.interpolate_text): {name} from ``values``."""
    return re.sub(r"{([^\n{}]+?)}", lambda m: str(values[m.group(1)]), template)


def said(message: dict[str, Any], slots: dict[str, Any] | None = None) -> str:
    """The text a dispatcher message shows: its own text, or its response filled as Rasa fills it.

    Conditional variations are not chosen here: the first variation without a condition is used
    (the actions' own responses have no conditions). A placeholder with no value raises KeyError.
    """
    name = message.get("response")
    if not name:
        return str(message.get("text") or "")
    variations = [v for v in DOMAIN["responses"][name] if not v.get("condition")]
    values = {**INITIAL_SLOTS, **(slots or {}), **{k: v for k, v in message.items() if v is not None}}
    return fill(str(variations[0]["text"]), values)


def all_said(messages: list[dict[str, Any]], slots: dict[str, Any] | None = None) -> list[str]:
    return [said(m, slots) for m in messages]
