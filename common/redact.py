"""No personal data in clear in any log line of any process of the project.

:func:`install` makes every log record redacted as it is created (a log-record factory), so it
covers every logger — the project's, Rasa's, Sanic's, rasa-sdk's, uvicorn's — and every handler,
whoever configures them later. It also routes Python warnings and uncaught exceptions (main and
thread) through logging, so they are redacted too.

What is masked, in the message, its arguments and any traceback text:

- Chinese text (any run containing a Han character): messages, names, addresses, health details;
  the project's own log messages are English and carry ids, codes and counts instead;
- mobile and landline numbers, ID-card numbers, bank-card numbers, e-mail addresses;
- WeChat OpenIDs, channel sender ids (``wechat:…``, ``telegram:…``, ``web-…``);
- URL query strings and ``key=value`` secrets (signatures, nonces, tokens, passwords), bearer tokens;
- JSON-like blobs that carry a conversation (``"text"``, ``"sender_id"``, ``"events"``, ``"slots"`` …).

Standard library only: both runtimes import it.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
import warnings
from types import TracebackType
from typing import Any

_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # Blobs first: a JSON object of a conversation, whatever it contains.
    (
        re.compile(r"\{[^{}]*\"(?:text|sender_id|sender|events|slots|latest_message|message|tracker)\"[\s\S]*\}"),
        "{…conversation data withheld…}",
    ),
    (re.compile(r"body='[\s\S]*?'(?=[,)\s]|$)"), "body='…withheld…'"),
    (re.compile(r"(https?://[^\s?'\"<>]+)\?[^\s'\"<>]*"), r"\1?…"),
    (
        re.compile(
            r"(?i)\b([A-Za-z0-9_]*(?:signature|nonce|timestamp|echostr|openid|token|secret|password|passwd|"
            r"api_?key|aes_?key|session|cookie))=([^&\s'\"]+)"
        ),
        r"\1=…",
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 …"),
    (re.compile(r"(?i)\b(wechat|telegram|web|handoff|staff):[^\s'\",;)\]}]+"), r"\1:…"),
    (re.compile(r"\bweb-[0-9a-f]{8,}\b"), "web-…"),
    (re.compile(r"(?<![A-Za-z0-9_-])o[A-Za-z0-9_-]{27}(?![A-Za-z0-9_-])"), "o…"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "…@…"),
    (re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])"), "〔ID〕"),
    (re.compile(r"(?<!\d)(?:\d{4}[ -]?){3}\d{4,7}(?!\d)"), "〔card〕"),
    (re.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)"), "〔mobile〕"),
    (re.compile(r"(?<!\d)0\d{2,3}[ -]?\d{3,4}[ -]?\d{4}(?!\d)"), "〔phone〕"),
    (re.compile(rf"[^\s'\"<>(){{}}\[\],:;=]*[{_HAN}][^\s'\"<>(){{}}\[\],:;=]*"), "〔…〕"),
)
_MAX_CHARS = 4000


def redact(text: str) -> str:
    """``text`` with personal data and secrets masked (see the module docstring)."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    if len(text) > _MAX_CHARS:
        text = text[:_MAX_CHARS] + f" …({len(text) - _MAX_CHARS} more characters withheld)"
    return text


_installed = False
_lock = threading.Lock()


def _redacting_factory(previous: Any) -> Any:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not lose the record
            message = f"{record.msg!r} (unformattable arguments withheld)"
        record.msg, record.args = redact(message), None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    factory._yinling_redacting = True  # type: ignore[attr-defined]
    return factory


def _log_uncaught(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    logging.getLogger("uncaught").critical("Uncaught exception", exc_info=(kind, value, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    logging.getLogger("uncaught").error(
        "Uncaught exception in a thread", exc_info=(args.exc_type, args.exc_value, args.exc_traceback)
    )


def install() -> None:
    """Redact every log record of this process from now on (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        current = logging.getLogRecordFactory()
        if not getattr(current, "_yinling_redacting", False):
            logging.setLogRecordFactory(_redacting_factory(current))
        logging.captureWarnings(True)
        warnings.simplefilter("default")
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_uncaught_in_thread
        _installed = True
