"""Every log record is redacted: names, numbers, message text, ids, secrets never reach a log in clear."""

from __future__ import annotations

import io
import logging
import subprocess
import sys

import pytest

from common.redact import redact
from scripts.stack import ROOT, base_env

PERSONAL = [
    "张秀英",
    "我老伴不在了，遗产哪能弄",
    "盘古路100弄5号",
    "13812345678",
    "138 1234 5678",
    "+86 139-1234-5678",
    "31011519500101123X",
    "6222021234567890123",
    "6222 0212 3456 7890",
    "021-5600-0131",
    "oABCDEFGHIJKLMNOPQRSTUVWXYZa",
    "wechat:oABCDEFGHIJKLMNOPQRSTUVWXYZa",
    "telegram:123456789",
    "web-0123456789abcdef0123456789abcdef",
    "someone@example.com",
]


@pytest.mark.parametrize("secret", PERSONAL)
def test_personal_data_is_masked(secret: str) -> None:
    line = redact(f"handling a message from {secret} now")
    assert secret not in line and "handling a message from" in line


@pytest.mark.parametrize(
    "line",
    [
        "GET /webhooks/wechat/webhook?signature=0a1b2c&timestamp=1700000000&nonce=998877 200",
        "calling http://127.0.0.1:5055/webhook?token=s3cr3t-value",
        "Authorization: Bearer abcdefghijklmnop",
        "KB_ADMIN_TOKEN=abcdefghijklmnop password=hunter22",
    ],
)
def test_secrets_and_query_strings_are_masked(line: str) -> None:
    out = redact(line)
    for secret in ("0a1b2c", "998877", "s3cr3t-value", "abcdefghijklmnop", "hunter22"):
        assert secret not in out


def test_a_conversation_blob_is_withheld_whole() -> None:
    blob = '500, Internal Server Error, body=\'{"tracker": {"sender_id": "e2e-1", "slots": {"booking_contact": "Mary Lee"}}}\''
    out = redact(blob)
    assert "Mary Lee" not in out and "e2e-1" not in out and "500" in out


def test_ids_codes_and_counts_stay_readable() -> None:
    line = "KB answer: intent=ask_legal how=followup entry=law-will-notary score=0.951 booked 385217 in slot 400"
    assert redact(line) == line


def test_installed_redaction_covers_every_logger_warnings_and_uncaught_exceptions() -> None:
    script = """
import logging, sys, threading, warnings
from common.redact import install
install()
logging.basicConfig(stream=sys.stdout, level=logging.DEBUG, format="%(name)s %(message)s")
logging.getLogger("rasa.core.processor").error("text=%s sender=%s", "张秀英 13812345678", "wechat:oABCDEFGHIJKLMNOPQRSTUVWXYZa")
try:
    raise ValueError("contact 张秀英 phone 13812345678")
except ValueError:
    logging.getLogger("sanic.error").exception("failed for %s", "盘古路100弄5号")
warnings.warn("slot value 张秀英")
t = threading.Thread(target=lambda: (_ for _ in ()).throw(RuntimeError("13812345678")))
t.start(); t.join()
raise RuntimeError("uncaught 张秀英")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=base_env(), capture_output=True, text=True, timeout=60
    )
    out = result.stdout + result.stderr
    assert "rasa.core.processor" in out and "Uncaught exception" in out and "ValueError" in out
    for secret in ("张秀英", "13812345678", "盘古路", "oABCDEFGHIJKLMNOPQRSTUVWXYZa"):
        assert secret not in out, out


def test_a_broken_format_string_keeps_the_record() -> None:
    from common.redact import _redacting_factory

    stream = io.StringIO()
    record = _redacting_factory(logging.LogRecord)("x", logging.INFO, __file__, 1, "%d items for %s", ("many",), None)
    handler = logging.StreamHandler(stream)
    handler.emit(record)
    assert "unformattable" in stream.getvalue()
