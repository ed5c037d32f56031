"""WeChat's XML on the wire: parsing what arrives (safely, UTF-8 only) and writing passive replies."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from channels.wechat.errors import BadPayloadError

MAX_OPENID_CHARS = 128
_UTF8_NAMES = frozenset({"utf-8", "utf8"})
# The encoding pseudo-attribute of an XML declaration at the very start of the document.
_DECLARED_ENCODING = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?\bencoding\s*=\s*[\"']([^\"']*)[\"']")


def check_utf8(body: bytes) -> None:
    """WeChat sends UTF-8. Anything else (a GBK declaration, UTF-16, stray bytes) is refused here,
    before expat sees it: expat raised a bare ValueError for multi-byte encodings such as GBK."""
    declared = _DECLARED_ENCODING.match(body[:256])
    if declared is not None and declared.group(1).decode("ascii", "replace").strip().lower() not in _UTF8_NAMES:
        raise BadPayloadError("the XML declares an encoding other than UTF-8")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadPayloadError("body is not UTF-8") from None


def parse_xml(body: bytes) -> dict[str, str]:
    """Top-level ``<xml>`` children as tag → text. UTF-8 only; DTDs and entities are refused (billion laughs, XXE)."""
    check_utf8(body)
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError, LookupError) as err:
        # LookupError: expat asked for an encoding by a name it does not know (found by `make fuzz`).
        raise BadPayloadError(f"body is not acceptable XML ({type(err).__name__})") from None
    if root.tag != "xml":
        raise BadPayloadError("root element is not <xml>")
    return {child.tag: child.text or "" for child in root}


def digest(text: str, length: int = 32) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:length]


@dataclass(frozen=True)
class Inbound:
    """One message or event from WeChat, already decrypted."""

    fields: Mapping[str, str]

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> Inbound:
        openid = fields.get("FromUserName", "").strip()
        if not openid or len(openid) > MAX_OPENID_CHARS or not openid.isprintable():
            raise BadPayloadError("FromUserName is missing or malformed")
        if not fields.get("MsgType", "").strip():
            raise BadPayloadError("MsgType is missing")
        return cls(fields)

    def get(self, tag: str) -> str:
        return self.fields.get(tag, "")

    @property
    def openid(self) -> str:
        return self.get("FromUserName").strip()

    @property
    def account(self) -> str:
        return self.get("ToUserName").strip()

    @property
    def msg_type(self) -> str:
        return self.get("MsgType").strip().lower()

    @property
    def event(self) -> str:
        return self.get("Event").strip().lower()

    @property
    def dedupe_key(self) -> str:
        """Names this delivery for retries: per sender, so two OpenIDs never share an answer.

        Messages: OpenID + MsgId. Events have no MsgId: OpenID + CreateTime + event (WeChat's own
        advice is the first two; the event tells a subscribe from a click in the same second).
        Hashed, because the key may be stored in Redis.
        """
        msg_id = self.get("MsgId").strip()
        if msg_id:
            return f"msg:{digest(self.openid + ':' + msg_id)}"
        return f"evt:{digest(':'.join((self.openid, self.get('CreateTime').strip(), self.event)))}"

    @property
    def message_id(self) -> str:
        """What Rasa (and booking idempotency) sees as the message id: the MsgId, stable across retries."""
        msg_id = self.get("MsgId").strip()
        return msg_id or self.dedupe_key


_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def cdata(text: str) -> str:
    # Characters XML 1.0 forbids would make WeChat drop the whole reply; "]]>" would end the section.
    return _XML_INVALID.sub("", text).replace("]]>", "]]]]><![CDATA[>")


def passive_text_xml(to_user: str, from_user: str, content: str, now: int | None = None) -> str:
    """WeChat's passive text reply (to the user who wrote, from the account they wrote to)."""
    stamp = int(time.time()) if now is None else now
    return (
        "<xml>"
        f"<ToUserName><![CDATA[{cdata(to_user)}]]></ToUserName>"
        f"<FromUserName><![CDATA[{cdata(from_user)}]]></FromUserName>"
        f"<CreateTime>{stamp}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{cdata(content)}]]></Content>"
        "</xml>"
    )
