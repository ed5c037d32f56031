"""WeChat Official Account signatures and safe-mode (``encrypt_type=aes``) message crypto.

Protocol (WeChat's "消息加解密技术方案"):

- URL signature: ``sha1("".join(sorted([token, timestamp, nonce])))`` as lowercase hex.
- Message signature in safe mode: the same over ``[token, timestamp, nonce, Encrypt]``.
- ``Encrypt`` = base64(AES-256-CBC(key, iv=key[:16], PKCS#7 to 32-byte blocks)) of
  16 random bytes + 4-byte big-endian XML length + XML + AppID, where
  key = base64decode(EncodingAESKey + "=").

Signatures are compared with :func:`hmac.compare_digest` so a forger learns nothing from timing,
and timestamps outside a window are refused so a captured request cannot be replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from channels.wechat.errors import DecryptError, SignatureError, WeChatConfigError

DEFAULT_TIMESTAMP_WINDOW_SECONDS = 300.0
ENCODING_AES_KEY_LENGTH = 43
BLOCK_SIZE = 32  # WeChat pads to 32 bytes, not AES's 16: the padding byte may be up to 32
RANDOM_PREFIX_LENGTH = 16


def sha1_signature(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the parts sorted as strings and concatenated, in lowercase hex."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()  # noqa: S324 - the protocol mandates SHA-1


def signatures_match(expected: str, given: str) -> bool:
    # compare_digest on str only accepts ASCII; bytes work for anything a client sends.
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def check_timestamp(timestamp: str, window_seconds: float, now: float | None = None) -> None:
    """Refuse timestamps that are not integers or lie more than ``window_seconds`` from ``now``."""
    # ASCII digits only: int() would also take "１２３" or " 12_3 ".
    if not (isinstance(timestamp, str) and timestamp.isascii() and timestamp.isdigit()):
        raise SignatureError("timestamp is not an integer")
    sent = int(timestamp)
    current = time.time() if now is None else now
    if abs(current - sent) > window_seconds:
        raise SignatureError("timestamp is outside the accepted window")


def verify_signature(
    token: str,
    signature: str,
    timestamp: str,
    nonce: str,
    *extra: str,
    window_seconds: float = DEFAULT_TIMESTAMP_WINDOW_SECONDS,
    now: float | None = None,
) -> None:
    """Check a URL signature (``extra`` empty) or a safe-mode message signature (``extra`` = Encrypt)."""
    if not signature or not timestamp or not nonce:
        raise SignatureError("signature, timestamp or nonce is missing")
    # Signature first: an unsigned request learns nothing, not even whether its clock is off.
    if not signatures_match(sha1_signature(token, timestamp, nonce, *extra), signature):
        raise SignatureError("signature does not match")
    check_timestamp(timestamp, window_seconds, now)


def _pkcs7_pad(data: bytes) -> bytes:
    amount = BLOCK_SIZE - len(data) % BLOCK_SIZE
    return data + bytes([amount]) * amount


def _pkcs7_unpad(data: bytes) -> bytes:
    if not data:
        raise DecryptError("empty plaintext")
    amount = data[-1]
    if not 1 <= amount <= BLOCK_SIZE or data[-amount:] != bytes([amount]) * amount:
        raise DecryptError("bad padding")
    return data[:-amount]


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key behind the 43-character EncodingAESKey from the WeChat admin page."""
    if len(encoding_aes_key) != ENCODING_AES_KEY_LENGTH:
        raise WeChatConfigError(
            f"encoding_aes_key must be the {ENCODING_AES_KEY_LENGTH}-character EncodingAESKey from the WeChat "
            f"admin page (基本配置 → 消息加解密密钥); got {len(encoding_aes_key)} characters"
        )
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as err:
        raise WeChatConfigError("encoding_aes_key is not valid base64 (letters and digits only)") from err
    if len(key) != 32:
        raise WeChatConfigError("encoding_aes_key does not decode to a 32-byte AES key")
    return key


class WeChatCrypto:
    """Safe-mode encryption and signing for one Official Account."""

    __slots__ = ("_app_id", "_iv", "_key", "_token")

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        if not app_id:
            raise WeChatConfigError("safe mode needs app_id (the AppID) to check who a message is for")
        self._token = token
        self._app_id = app_id.encode("utf-8")
        self._key = decode_aes_key(encoding_aes_key)
        self._iv = self._key[:16]

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._iv))

    def encrypt(self, xml: str, random_prefix: bytes | None = None) -> str:
        """Base64 ``Encrypt`` value for ``xml``. ``random_prefix`` is for known-answer tests only."""
        prefix = os.urandom(RANDOM_PREFIX_LENGTH) if random_prefix is None else random_prefix
        if len(prefix) != RANDOM_PREFIX_LENGTH:
            raise ValueError(f"random_prefix must be {RANDOM_PREFIX_LENGTH} bytes")
        body = xml.encode("utf-8")
        plain = prefix + struct.pack(">I", len(body)) + body + self._app_id
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(_pkcs7_pad(plain)) + encryptor.finalize()).decode("ascii")

    def decrypt(self, encrypted: str) -> str:
        """The XML inside an ``Encrypt`` value; refuses anything not addressed to our AppID."""
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as err:
            raise DecryptError("Encrypt is not base64") from err
        if not data or len(data) % 16:
            raise DecryptError("Encrypt is not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        plain = _pkcs7_unpad(decryptor.update(data) + decryptor.finalize())
        if len(plain) < RANDOM_PREFIX_LENGTH + 4:
            raise DecryptError("plaintext too short")
        (length,) = struct.unpack(">I", plain[RANDOM_PREFIX_LENGTH : RANDOM_PREFIX_LENGTH + 4])
        start = RANDOM_PREFIX_LENGTH + 4
        if start + length > len(plain):
            raise DecryptError("declared length is longer than the plaintext")
        xml, app_id = plain[start : start + length], plain[start + length :]
        if not hmac.compare_digest(app_id, self._app_id):
            raise DecryptError("message is for another AppID")
        try:
            return xml.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DecryptError("plaintext is not UTF-8") from err

    def sign(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return sha1_signature(self._token, timestamp, nonce, encrypted)

    def verify(
        self,
        msg_signature: str,
        timestamp: str,
        nonce: str,
        encrypted: str,
        window_seconds: float = DEFAULT_TIMESTAMP_WINDOW_SECONDS,
        now: float | None = None,
    ) -> None:
        """Check ``msg_signature`` over the ciphertext before anything is decrypted."""
        verify_signature(
            self._token, msg_signature, timestamp, nonce, encrypted, window_seconds=window_seconds, now=now
        )

    def encrypt_reply(self, xml: str, nonce: str, timestamp: str | None = None) -> str:
        """The signed XML envelope WeChat expects as a passive reply in safe mode."""
        stamp = timestamp or str(int(time.time()))
        encrypted = self.encrypt(xml)
        signature = self.sign(stamp, nonce, encrypted)
        return (
            "<xml>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt>"
            f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>"
            f"<TimeStamp>{stamp}</TimeStamp>"
            f"<Nonce><![CDATA[{_cdata_safe(nonce)}]]></Nonce>"
            "</xml>"
        )


def _cdata_safe(text: str) -> str:
    # The nonce comes from the query string; keep it from closing the CDATA section.
    return text.replace("]]>", "]]]]><![CDATA[>")
