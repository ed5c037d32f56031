"""A seeded, structure-aware mutator: take a valid request part, break it the ways clients and attackers do.

Pure Python and deterministic for a given seed (``random.Random``), so any input it made can be made
again from ``(seed, route, index)``; both runtimes import it (the channels run on Python 3.10, the
staff app on 3.11). Hypothesis is not used here: its shrinking and database are built for a few
hundred examples per test, and the fuzzer needs 100,000 cheap inputs per route in minutes.

What it knows how to break:

- text: Chinese, emoji (with ZWJ sequences), combining marks, control and bidi-override characters,
  full-width digits, typed "/intent{...}" commands, XML and JSON metacharacters, lone surrogates,
  NUL, very long strings;
- JSON: a field replaced by a value of another type, dropped, duplicated, added, nested (also far
  past any depth limit), huge numbers, NaN/Infinity, truncation, byte flips, invalid UTF-8, a BOM,
  another encoding, trailing garbage, a body of another format altogether;
- XML (WeChat): CDATA breaks, entities and DOCTYPEs (XXE, billion laughs), missing and repeated
  elements, wrong types, other encodings, processing instructions;
- headers: content types, charsets, authorization schemes and tokens, bogus Content-Length and
  Transfer-Encoding values.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

CHINESE = "我想问问长护险哪能申请明天下午三点约助浴宝山区大场镇淞南社区黄阿宝老伴不在了救命侬阿拉伐覅"
EMOJI = ["😀", "👨‍👩‍👧", "🏳️‍🌈", "🧓🏻", "❤️", "🈶", "\U0001f9d1\u200d\U0001f9af"]
COMBINING = "\u0301\u0308\u0327\u0336\u20dd\u0489"
CONTROL = "\x00\x01\x07\x08\x0b\x0c\x1b\x7f\u0085\u2028\u2029"
FORMAT = "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202d\u202e\u2066\u2067\u2069\ufeff"
SPECIAL_STRINGS = [
    "",
    " ",
    "\n",
    "/emergency",
    '/book_service{"service":"助浴"}',
    "/start",
    "/help",
    "/start@YinlingBot",
    "]]>",
    "<![CDATA[x]]>",
    "&amp;&lt;&#0;&#x110000;",
    "<script>alert(1)</script>",
    "'; DROP TABLE users; --",
    "${jndi:ldap://x}",
    "{{7*7}}",
    "%s%n%x",
    "..%2f..%2fetc%2fpasswd",
    "１３９１２３４５６７８",
    "13912345678",
    "310113194901011234",
    "wechat:oK3Xw5nQ2pLm8vTz1aR7eYhC4dUs",
    "web-" + "0" * 32,
    "telegram:12345",
    "handoff:1",
    "staff:1",
    "null",
    "true",
    "0",
    "-1",
    "1e309",
    "NaN",
    "\ud800",
    "\udfff",
    "a\x00b",
    "长" * 5001,
    "x" * 300,
]


class Mutator:
    """Random but reproducible inputs: one instance per (seed, route)."""

    def __init__(self, seed: int | str) -> None:
        self.rng = random.Random(str(seed))  # noqa: S311 - reproducible test inputs, not secrets

    # ------------------------------------------------------------------ primitives

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, items: Sequence[T]) -> T:
        return items[self.rng.randrange(len(items))]

    def length(self) -> int:
        """Mostly short, sometimes long, rarely huge (long inputs find the size limits)."""
        roll = self.rng.random()
        if roll < 0.80:
            return self.rng.randrange(0, 24)
        if roll < 0.97:
            return self.rng.randrange(24, 600)
        return self.rng.randrange(600, 9000)

    def char(self) -> str:
        roll = self.rng.random()
        if roll < 0.40:
            return self.pick(CHINESE)
        if roll < 0.55:
            return chr(self.rng.randrange(0x20, 0x7F))
        if roll < 0.62:
            return self.pick(EMOJI)
        if roll < 0.68:
            return self.pick(COMBINING)
        if roll < 0.73:
            return self.pick(CONTROL)
        if roll < 0.78:
            return self.pick(FORMAT)
        if roll < 0.83:
            return chr(0xFF10 + self.rng.randrange(10))  # full-width digits
        if roll < 0.86:
            return chr(self.rng.randrange(0xD800, 0xE000))  # a lone surrogate
        if roll < 0.93:
            return chr(self.rng.randrange(0x80, 0x3000))
        return chr(self.rng.randrange(0x10000, 0x110000))

    def text(self) -> str:
        if self.chance(0.15):
            return self.pick(SPECIAL_STRINGS)
        n = self.length()
        if n <= 32:
            return "".join([self.char() for _ in range(n)])
        # Long texts repeat a short random piece: as hard on the server, far cheaper to make.
        piece = "".join([self.char() for _ in range(self.rng.randrange(1, 32))])
        return (piece * (n // len(piece) + 1))[:n]

    def ascii_token(self, low: int = 0, high: int = 80) -> str:
        alphabet = "ABCDEFabcdef0123456789_-.:/+=~ %\t"
        return "".join(self.pick(alphabet) for _ in range(self.rng.randrange(low, high)))

    def number(self) -> Any:
        return self.pick(
            [
                0,
                -1,
                1,
                2**31,
                2**63,
                -(2**63) - 1,
                10**400,
                1.5,
                -0.0,
                1e308,
                float("nan"),
                float("inf"),
                self.rng.randrange(-(10**12), 10**12),
                self.rng.random() * 10 ** self.rng.randrange(0, 30),
            ]
        )

    def scalar(self) -> Any:
        kind = self.rng.randrange(6)
        if kind == 0:
            return self.text()
        if kind == 1:
            return self.number()
        if kind == 2:
            return self.chance(0.5)
        if kind == 3:
            return None
        if kind == 4:
            return []
        return {}

    def value(self, depth: int = 0) -> Any:
        """Any JSON value, nested a little (deep nesting is made on the bytes, see :meth:`deep_json`)."""
        if depth > 3 or self.chance(0.6):
            return self.scalar()
        if self.chance(0.5):
            return [self.value(depth + 1) for _ in range(self.rng.randrange(0, 5))]
        return {self.key(): self.value(depth + 1) for _ in range(self.rng.randrange(0, 5))}

    def key(self) -> str:
        if self.chance(0.7):
            return self.pick(["message", "sender", "payload", "title", "metadata", "entry", "reason", "id", "text"])
        return self.text()[:40]

    # ------------------------------------------------------------------ JSON

    def mutate_json(self, obj: Any, rounds: int | None = None) -> Any:
        """``obj`` with 1-3 structural changes somewhere inside (a copy; ``obj`` is not changed)."""
        obj = json.loads(json.dumps(obj))
        for _ in range(rounds if rounds is not None else self.rng.randrange(1, 4)):
            obj = self._mutate_once(obj)
        return obj

    def _mutate_once(self, obj: Any) -> Any:
        if isinstance(obj, dict) and obj and self.chance(0.7):
            key = self.pick(list(obj))
            op = self.rng.randrange(6)
            if op == 0:
                del obj[key]
            elif op == 1:
                obj[key] = self.value()
            elif op == 2:
                obj[key] = self._mutate_once(obj[key])
            elif op == 3:
                obj[self.key()] = self.value()
            elif op == 4:
                obj[key] = [obj[key]] if self.chance(0.5) else {"value": obj[key]}
            else:
                obj[key] = self.text() if self.chance(0.7) else self.number()
            return obj
        if isinstance(obj, list) and obj and self.chance(0.7):
            i = self.rng.randrange(len(obj))
            op = self.rng.randrange(4)
            if op == 0:
                del obj[i]
            elif op == 1:
                obj[i] = self._mutate_once(obj[i])
            elif op == 2:
                obj.extend(obj[i] for _ in range(self.rng.randrange(1, 50)))
            else:
                obj.insert(i, self.value())
            return obj
        if isinstance(obj, str) and self.chance(0.6):
            return self.mutate_text(obj)
        return self.value()

    def mutate_text(self, text: str) -> str:
        op = self.rng.randrange(6)
        if op == 0 or not text:
            return text + self.text()
        i = self.rng.randrange(len(text) + 1)
        if op == 1:
            return text[:i] + self.text() + text[i:]
        if op == 2:
            return text[:i]
        if op == 3:
            return text * self.rng.randrange(2, 40)
        if op == 4:
            return text[:i] + self.char() + text[i + 1 :]
        return self.text()

    def deep_json(self) -> bytes:
        depth = self.pick([64, 200, 1000, 10_000, 100_000])
        opener, closer = (b"[", b"]") if self.chance(0.5) else (b'{"a":', b"}")
        return opener * depth + b"1" + closer * depth

    def dumps(self, obj: Any) -> bytes:
        """``obj`` as JSON bytes, sometimes escaped differently; lone surrogates become escapes."""
        try:
            text = json.dumps(obj, ensure_ascii=self.chance(0.3), allow_nan=True)
        except (ValueError, TypeError, RecursionError):
            return b"{}"
        return text.encode("utf-8", "surrogatepass" if self.chance(0.2) else "backslashreplace")

    def corrupt(self, body: bytes) -> bytes:
        """Byte-level damage to a serialized body."""
        op = self.rng.randrange(12)
        if op == 0 and body:
            return body[: self.rng.randrange(len(body))]
        if op == 1 and body:
            i = self.rng.randrange(len(body))
            return body[:i] + bytes([self.rng.randrange(256)]) + body[i + 1 :]
        if op == 2:
            return b"\xef\xbb\xbf" + body
        if op == 3:
            return body + self.pick([b"garbage", b"\x00", b"}", b",", b"\n\n{}", b"\xff\xfe"])
        if op == 4:
            try:
                return body.decode("utf-8").encode(self.pick(["gbk", "utf-16", "utf-16-le", "latin-1", "big5"]))
            except (UnicodeError, LookupError):
                return body
        if op == 5:
            return self.deep_json()
        if op == 6:
            return b""
        if op == 7:
            return self.pick([b"null", b"[]", b'"x"', b"1", b"NaN", b"-Infinity", b"true", b"{,}", b'{"a":1,"a":2}'])
        if op == 8:
            return b"a=1&b=" + body[:100]
        if op == 9 and body:
            i = self.rng.randrange(len(body))
            return body[:i] + self.pick([b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80"]) + body[i:]
        if op == 10:
            return body * self.rng.randrange(2, 30)
        return bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 200)))

    def json_body(self, valid: Any, p_valid: float = 0.15, p_corrupt: float = 0.25) -> bytes:
        """Valid as given, structurally mutated, or mutated and then damaged as bytes."""
        if self.chance(p_valid):
            return self.dumps(valid)
        body = self.dumps(self.mutate_json(valid))
        if self.chance(p_corrupt):
            body = self.corrupt(body)
        return body

    # ------------------------------------------------------------------ XML

    def xml_text(self) -> str:
        """Element content as a WeChat message might carry it, or not."""
        roll = self.rng.random()
        if roll < 0.5:
            return f"<![CDATA[{self.text()}]]>"
        if roll < 0.7:
            return self.text().replace("<", "&lt;").replace("&", "&amp;")
        return self.pick(
            [
                "&xxe;",
                "&lol9;",
                "]]>",
                "<![CDATA[a]]>]]>",
                "<x>nested</x>",
                "&#0;",
                "&#x1F600;",
                "&unknown;",
                "<!-- c -->",
                "<?pi x?>",
                "",
            ]
        )

    def xml(self, fields: dict[str, str]) -> bytes:
        """A WeChat-style ``<xml>`` document from ``fields``, mutated."""
        items = list(fields.items())
        for _ in range(self.rng.randrange(0, 4)):
            op = self.rng.randrange(5)
            if op == 0 and items:
                del items[self.rng.randrange(len(items))]
            elif op == 1 and items:
                i = self.rng.randrange(len(items))
                items[i] = (items[i][0], self.xml_text())
            elif op == 2 and items:
                items.append(self.pick(items))  # a repeated element
            elif op == 3:
                tag = self.pick(
                    ["MsgType", "Content", "MsgId", "Event", "EventKey", "Recognition", "Encrypt", "Bad-Tag"]
                )
                items.append((tag, self.xml_text()))
            elif items:
                i = self.rng.randrange(len(items))
                items[i] = (items[i][0], f"<![CDATA[{self.pick(['text', 'voice', 'event', 'image', '', 'x' * 50])}]]>")
        inner = "".join(f"<{tag}>{value}</{tag}>" for tag, value in items)
        doc = f"<xml>{inner}</xml>"
        roll = self.rng.random()
        if roll < 0.05:
            doc = '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + doc
        elif roll < 0.10:
            lol = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
            doc = f'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY lol0 "lol">{lol}]>' + doc
        elif roll < 0.14:
            doc = f'<?xml version="1.0" encoding="{self.pick(["GBK", "UTF-16", "latin-1", "bogus"])}"?>' + doc
        elif roll < 0.17:
            doc = "<xml>" * self.pick([100, 5000]) + doc
        elif roll < 0.20:
            doc = doc[: self.rng.randrange(len(doc) + 1)]
        body = doc.encode("utf-8", "surrogatepass" if self.chance(0.5) else "backslashreplace")
        if self.chance(0.08):
            body = self.corrupt(body)
        return body

    # ------------------------------------------------------------------ headers

    def content_type(self, good: str) -> str | None:
        roll = self.rng.random()
        if roll < 0.75:
            return good
        return self.pick(
            [
                None,
                "",
                "text/plain",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x",
                "application/json; charset=gbk",
                "text/xml; charset=GBK",
                "application/xml; charset=utf-16",
                "application/json;;;",
                "*/*",
                good.upper(),
                good + "; charset=utf-8",
                "application/json\x00",
            ]
        )

    def authorization(self, good: str | None) -> str | None:
        roll = self.rng.random()
        if roll < 0.75 and good is not None:
            return good
        return self.pick(
            [
                None,
                "",
                "Bearer",
                "Bearer ",
                "bearer " + self.ascii_token(),
                "Basic dXNlcjpwYXNz",
                "Bearer " + "A" * 5000,
                (good or "Bearer x") + "x",
                (good or "Bearer x")[:-1],
                (good or "Bearer x").lower(),
                "Bearer " + self.text()[:60],
            ]
        )

    def extra_headers(self) -> list[tuple[str, str]]:
        """Rarely: a header that proxies and parsers trip on."""
        if not self.chance(0.05):
            return []
        return [
            self.pick(
                [
                    ("content-length", self.pick(["-1", "abc", "1e3", "99999999999999999999999", " 5", "0"])),
                    ("transfer-encoding", self.pick(["gzip", "chunked, identity", "identity"])),
                    ("x-forwarded-for", self.pick(["1.2.3.4", "::1, 10.0.0.1", "x" * 300])),
                    ("cookie", self.pick(["a=b", "=;;", "session=" + self.ascii_token()])),
                    ("accept", "*/*" * 100),
                    ("x-telegram-bot-api-secret-token", self.ascii_token()),
                ]
            )
        ]


def pick_weighted(rng: random.Random, choices: list[tuple[float, Callable[[], Any]]]) -> Any:
    """Call one of ``choices`` (weight, maker), chosen by weight."""
    total = sum(w for w, _ in choices)
    roll = rng.random() * total
    for weight, make in choices:
        roll -= weight
        if roll <= 0:
            return make()
    return choices[-1][1]()
