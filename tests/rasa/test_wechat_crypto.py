"""Known-answer tests for WeChat signatures and safe-mode AES (channels/wechat/crypto.py)."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from channels.wechat import crypto as wechat_crypto
from channels.wechat.crypto import (
    WeChatCrypto,
    check_timestamp,
    decode_aes_key,
    sha1_signature,
    verify_signature,
)
from channels.wechat.errors import DecryptError, SignatureError, WeChatConfigError, WeChatError

# WeChat's published sample for its message-crypto SDKs (the "spamtest" vector): an Encrypt value made by
# WeChat's own code, so these tests do not only check our encrypt against our decrypt.
SAMPLE_TOKEN = "spamtest"
SAMPLE_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SAMPLE_APP_ID = "wx2c2769f8efd9abc2"
SAMPLE_TIMESTAMP = "1409735669"
SAMPLE_NONCE = "1320562132"
SAMPLE_MSG_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
SAMPLE_URL_SIGNATURE = "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a"
SAMPLE_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2"
    "LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6u"
    "x5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJp"
    "XgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu"
    "9GhglF2PE="
)

# Our own regression vector: produced once with a fixed random prefix and pinned here.
OUR_TOKEN = "yinling-token"
OUR_APP_ID = "wx5e1f0a2b3c4d5e6f"
FIXED_PREFIX = bytes(range(16))
REPLY_XML = (
    "<xml><ToUserName><![CDATA[oK3Xw5nQ2pLm8vTz1aR7eYhC4dUs]]></ToUserName><FromUserName><![CDATA[gh_8d2f4c6a1b3e]]>"
    "</FromUserName><CreateTime>1745904001</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA["
    "您好，长护险可以在街道社区事务受理服务中心申请。]]></Content></xml>"
)
PINNED_ENCRYPT = (
    "IG+0eOkLdhYW9kHtuT3HY/Enlyu5AvNbxe/ngYoaX6wI5fNHzNIA+Ws3AennEjGDRA+I47foCbxtRIzPcctfBCxPd6FeSgbkVNRFhnw4OGQq"
    "XRRpMhL5pH4nF4jWlc5AXeM+HQ1jbnjP2D0IniSEA3myBNymUohq1/lg2G/YWaG9AipWZhwsz1FBnn/A2OYOaWYYFTVYQ1n7Txfc5s8hPlXg"
    "CSWqqk19Z37o0Je7Q6SVLsxObKukytqjaAlfQK8oEFbyyaVf0YOl9gqkfLHzFp9DwHamKNsGQZj0ET+h8JVeKuLeDRV3nM/JmsGxuyJyfwjK"
    "+uhh43wXhptwBJaskMZafeHS+O2AxWN7N9Glu4sHmy3srFcEZF2oGmO5yd6M0KZ0TCTw9cIGVgqPsKyxiF0UxVCkDArNrX2+5DMij29S+kpx"
    "ThWR5cz8M2a7GFuCaRzDTV5y39UCcLIM3/u6vw=="
)
PINNED_SIGNATURE = "6c7984d6109f39961f2207a7c52db8375c0a1acb"


def _sample() -> WeChatCrypto:
    return WeChatCrypto(SAMPLE_TOKEN, SAMPLE_KEY, SAMPLE_APP_ID)


def _ours() -> WeChatCrypto:
    return WeChatCrypto(OUR_TOKEN, SAMPLE_KEY, OUR_APP_ID)


# ------------------------------------------------------------------ signatures


def test_url_signature_is_sha1_of_the_sorted_parts() -> None:
    # Sorted by hand: "1320562132" < "1409735669" < "spamtest".
    by_hand = hashlib.sha1(b"13205621321409735669spamtest").hexdigest()
    assert sha1_signature(SAMPLE_TOKEN, SAMPLE_TIMESTAMP, SAMPLE_NONCE) == by_hand == SAMPLE_URL_SIGNATURE
    # The order of the arguments does not matter: they are sorted.
    assert sha1_signature(SAMPLE_NONCE, SAMPLE_TOKEN, SAMPLE_TIMESTAMP) == by_hand


def test_message_signature_of_wechats_sample() -> None:
    assert _sample().sign(SAMPLE_TIMESTAMP, SAMPLE_NONCE, SAMPLE_ENCRYPT) == SAMPLE_MSG_SIGNATURE
    now = float(SAMPLE_TIMESTAMP)
    _sample().verify(SAMPLE_MSG_SIGNATURE, SAMPLE_TIMESTAMP, SAMPLE_NONCE, SAMPLE_ENCRYPT, now=now)
    with pytest.raises(SignatureError):
        _sample().verify(SAMPLE_MSG_SIGNATURE, SAMPLE_TIMESTAMP, SAMPLE_NONCE, SAMPLE_ENCRYPT[:-4] + "AAA=", now=now)


def test_verify_signature_accepts_the_right_one_and_refuses_others() -> None:
    now = float(SAMPLE_TIMESTAMP)
    verify_signature(SAMPLE_TOKEN, SAMPLE_URL_SIGNATURE, SAMPLE_TIMESTAMP, SAMPLE_NONCE, now=now)
    for bad in ("0" * 40, SAMPLE_URL_SIGNATURE.upper(), SAMPLE_URL_SIGNATURE[:-1], "签名", ""):
        with pytest.raises(SignatureError):
            verify_signature(SAMPLE_TOKEN, bad, SAMPLE_TIMESTAMP, SAMPLE_NONCE, now=now)
    with pytest.raises(SignatureError):
        verify_signature("another-token", SAMPLE_URL_SIGNATURE, SAMPLE_TIMESTAMP, SAMPLE_NONCE, now=now)


def test_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = wechat_crypto.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(wechat_crypto.hmac, "compare_digest", spy)
    verify_signature(SAMPLE_TOKEN, SAMPLE_URL_SIGNATURE, SAMPLE_TIMESTAMP, SAMPLE_NONCE, now=float(SAMPLE_TIMESTAMP))
    assert calls == [(SAMPLE_URL_SIGNATURE.encode(), SAMPLE_URL_SIGNATURE.encode())]


@pytest.mark.parametrize(("offset", "accepted"), [(0, True), (299, True), (-299, True), (301, False), (-301, False)])
def test_timestamp_window(offset: int, accepted: bool) -> None:
    now = 1_745_904_000.0
    stamp = str(int(now) + offset)
    signature = sha1_signature(SAMPLE_TOKEN, stamp, SAMPLE_NONCE)
    if accepted:
        verify_signature(SAMPLE_TOKEN, signature, stamp, SAMPLE_NONCE, window_seconds=300, now=now)
    else:
        with pytest.raises(SignatureError):
            verify_signature(SAMPLE_TOKEN, signature, stamp, SAMPLE_NONCE, window_seconds=300, now=now)


def test_timestamp_must_be_an_integer() -> None:
    for bad in ("", "soon", "1.5e9", "１２３", " 123", "1_2", "-5"):
        with pytest.raises(SignatureError):
            check_timestamp(bad, 300, now=0)


# ------------------------------------------------------------------ AES


def test_decrypts_wechats_sample() -> None:
    xml = _sample().decrypt(SAMPLE_ENCRYPT)
    assert xml.startswith("<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>")
    assert "<Content><![CDATA[abcdteT]]></Content>" in xml
    assert "<MsgId>6054768590064713728</MsgId>" in xml


def test_the_appid_inside_the_ciphertext_is_checked() -> None:
    other = WeChatCrypto(SAMPLE_TOKEN, SAMPLE_KEY, "wx0000000000000000")
    with pytest.raises(DecryptError, match="AppID"):
        other.decrypt(SAMPLE_ENCRYPT)


def test_encrypt_with_a_fixed_prefix_matches_the_pinned_vector() -> None:
    encrypted = _ours().encrypt(REPLY_XML, random_prefix=FIXED_PREFIX)
    assert encrypted == PINNED_ENCRYPT
    assert _ours().sign("1745904001", "20250429", encrypted) == PINNED_SIGNATURE
    assert _ours().decrypt(PINNED_ENCRYPT) == REPLY_XML


def test_layout_built_by_hand_matches() -> None:
    """16 random bytes + big-endian length + XML + AppID, PKCS#7 to 32 bytes, AES-256-CBC, IV = key[:16]."""
    key = base64.b64decode(SAMPLE_KEY + "=")
    body = REPLY_XML.encode("utf-8")
    plain = FIXED_PREFIX + struct.pack(">I", len(body)) + body + OUR_APP_ID.encode()
    pad = 32 - len(plain) % 32
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    by_hand = base64.b64encode(encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()).decode()
    assert by_hand == PINNED_ENCRYPT
    assert len(key) == 32 and decode_aes_key(SAMPLE_KEY) == key


@pytest.mark.parametrize("size", [0, 1, 11, 12, 13, 44, 45, 500])
def test_round_trip_across_block_boundaries(size: int) -> None:
    # len(prefix + length + AppID) = 38: sizes 12 and 44 fill whole 32-byte blocks, so a full block of padding.
    xml = "x" * size
    assert _ours().decrypt(_ours().encrypt(xml)) == xml


@pytest.mark.property
@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_round_trip_any_text(text: str) -> None:
    assert _ours().decrypt(_ours().encrypt(text)) == text


def test_two_encryptions_differ_by_their_random_prefix() -> None:
    assert _ours().encrypt(REPLY_XML) != _ours().encrypt(REPLY_XML)


@pytest.mark.parametrize(
    "bad",
    [
        "not base64 at all!",
        base64.b64encode(b"short").decode(),
        base64.b64encode(b"\x00" * 32).decode(),
        PINNED_ENCRYPT[:-24] + "A" * 22 + "==",  # last block damaged: padding or AppID breaks
    ],
)
def test_garbage_is_refused(bad: str) -> None:
    with pytest.raises(DecryptError):
        _ours().decrypt(bad)


def test_encrypt_reply_is_signed_and_decrypts() -> None:
    envelope = _ours().encrypt_reply(REPLY_XML, nonce="8848", timestamp="1745904002")
    encrypted = envelope.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    signature = envelope.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
    assert "<TimeStamp>1745904002</TimeStamp>" in envelope and "<Nonce><![CDATA[8848]]></Nonce>" in envelope
    assert signature == hashlib.sha1("".join(sorted([OUR_TOKEN, "1745904002", "8848", encrypted])).encode()).hexdigest()
    assert _ours().decrypt(encrypted) == REPLY_XML


@pytest.mark.parametrize("key", ["", "short", SAMPLE_KEY + "A", "!" * 43])
def test_bad_encoding_aes_key_is_a_config_error(key: str) -> None:
    with pytest.raises(WeChatConfigError) as info:
        WeChatCrypto(OUR_TOKEN, key, OUR_APP_ID)
    assert isinstance(info.value, ValueError) and isinstance(info.value, WeChatError)
    assert "encoding_aes_key" in str(info.value)


def test_safe_mode_needs_the_appid() -> None:
    with pytest.raises(WeChatConfigError, match="app_id"):
        WeChatCrypto(OUR_TOKEN, SAMPLE_KEY, "")
