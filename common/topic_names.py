"""The words that name a topic (长护险, 沪惠保, 日间照料, 遗嘱 …), for both runtimes.

They are the ``questions.topics`` pattern of ``training_data/intent_rules.yml``, where the NLU's IntentRules
reads them ("a topic named without a verb is a question"). The action server reads the same list to tell a
senior's situation ("我老伴瘫在床上能办伐") from another topic ("我妈长护险能办伐") in an eligibility follow-up.
"""

from __future__ import annotations

import functools
from pathlib import Path

import regex
import yaml

from common.errors import ConfigError

DEFAULT_TABLE = Path(__file__).resolve().parents[1] / "training_data" / "intent_rules.yml"


class TopicNamesError(ConfigError):
    """The intent rules' ``questions.topics`` cannot be read; the message names the file."""


@functools.cache
def _pattern(path: Path = DEFAULT_TABLE) -> regex.Pattern[str]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        source = str(data["questions"]["topics"])
        return regex.compile(source)
    except (OSError, yaml.YAMLError, KeyError, TypeError, regex.error) as err:
        raise TopicNamesError(f"{path}: questions.topics must be a regular expression of topic words: {err}") from err


def topic_names(text: str, path: Path = DEFAULT_TABLE) -> list[str]:
    """The topic words in ``text`` (already normalized), in order, overlapping ones included."""
    return [m.group() for m in _pattern(path).finditer(text, overlapped=True)]
