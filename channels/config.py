"""Reading a channel's section of ``credentials.yml`` strictly: a typo is an error, not a silent default.

Rasa hands ``from_credentials`` the section as a dict and nothing else, so the file it came from
is found the way ``rasa run`` found it: the ``--credentials`` argument, else Rasa's default
``credentials.yml``. Callers that read the file themselves (Telegram polling) pass its path.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from channels.errors import ChannelConfigError
from common.ratelimit import Limit, RateLimitConfigError, limit_from_env

DEFAULT_CREDENTIALS_FILE = "credentials.yml"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def credentials_file(argv: Sequence[str] | None = None) -> str:
    """The credentials file this process was started with (``rasa run --credentials X``)."""
    args = list(sys.argv if argv is None else argv)
    for index, arg in enumerate(args):
        if arg == "--credentials" and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--credentials="):
            return arg.split("=", 1)[1]
    return DEFAULT_CREDENTIALS_FILE


def check_keys(
    given: Mapping[str, Any],
    allowed: Collection[str],
    section: str,
    source: str | None = None,
    error: type[ChannelConfigError] = ChannelConfigError,
) -> None:
    """Raise ``error`` naming every key of ``given`` that is not in ``allowed``, the section and the file."""
    unknown = sorted(str(key) for key in given if key not in allowed)
    if not unknown:
        return
    where = source or credentials_file()
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, list(allowed), n=1)
        hints.append(f"'{key}' (did you mean '{close[0]}'?)" if close else f"'{key}'")
    noun = "key" if len(unknown) == 1 else "keys"
    raise error(
        f"Unknown {noun} {', '.join(hints)} under {section} in {where}. "
        f"Allowed keys: {', '.join(sorted(allowed))}. Remove or correct {'it' if len(unknown) == 1 else 'them'}."
    )


def flag(value: Any, name: str, error: type[ChannelConfigError] = ChannelConfigError) -> bool:
    """A yes/no setting from YAML (a bool) or the environment (1/0, true/false, yes/no, on/off)."""
    if isinstance(value, bool):
        return value
    text = str(value if value is not None else "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise error(f"{name} must be true or false, got {value!r}")


def channel_limit(
    channel: str,
    kind: str,
    default: Limit,
    environ: Mapping[str, str],
    error: type[ChannelConfigError] = ChannelConfigError,
) -> Limit:
    """``YINLING_RATE_<CHANNEL>_<KIND>``, else ``YINLING_RATE_<KIND>``, else ``default``."""
    try:
        shared = limit_from_env(kind, default, environ)
        return limit_from_env(f"{channel}_{kind}", shared, environ)
    except RateLimitConfigError as err:
        raise error(str(err)) from err
