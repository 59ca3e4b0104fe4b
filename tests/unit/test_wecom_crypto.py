"""WeCom callback crypto with the official sample values from WeCom's documentation."""

from __future__ import annotations

import pytest
import xmltodict

from bot.core.channel import Citation, Reply
from integrations.wecom import CallbackCrypto, CallbackRejected, render, split_message

TOKEN, AES_KEY, CORP_ID = "QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7"
VERIFY = {
    "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
    "timestamp": "1409659589",
    "nonce": "263014780",
    "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
}
ENCRYPTED = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUX"
    "xaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiq"
    "ATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22"
    "Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)
MESSAGE = {
    "msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6",
    "timestamp": "1409659813",
    "nonce": "1372623149",
}
BODY = (
    f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{ENCRYPTED}]]></Encrypt>"
    "<AgentID><![CDATA[218]]></AgentID></xml>"
)


def crypto(corp_id: str = CORP_ID) -> CallbackCrypto:
    return CallbackCrypto(TOKEN, AES_KEY, corp_id, window_s=300)


def test_url_verification_with_the_official_sample() -> None:
    assert crypto().verify_url(**VERIFY, now=1409659589 + 10) == "1616140317555161061"


def test_message_decryption_with_the_official_sample() -> None:
    message = crypto().decrypt(BODY, **MESSAGE, now=1409659813)
    assert message["FromUserName"] == "mycreate" and message["MsgType"] == "text"
    assert message["Content"] == "hello" and message["MsgId"] == "4561255354251345929"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"msg_signature": "0" * 40}, "bad signature"),
        ({"nonce": "263014781"}, "bad signature"),
    ],
)
def test_forged_verification_is_refused(change, reason) -> None:
    with pytest.raises(CallbackRejected, match=reason):
        crypto().verify_url(**{**VERIFY, **change}, now=1409659589)


def test_stale_or_future_timestamps_are_refused_even_when_signed() -> None:
    with pytest.raises(CallbackRejected, match="window"):
        crypto().verify_url(**VERIFY, now=1409659589 + 301)
    with pytest.raises(CallbackRejected, match="window"):
        crypto().decrypt(BODY, **MESSAGE, now=1409659813 - 3600)


def test_a_callback_for_another_corp_is_refused() -> None:
    with pytest.raises(CallbackRejected, match="rejected"):
        crypto("ww0000000000000000").decrypt(BODY, **MESSAGE, now=1409659813)


def test_a_malformed_envelope_is_refused() -> None:
    with pytest.raises(CallbackRejected, match="malformed"):
        crypto().decrypt("<html>not wecom</html>", **MESSAGE, now=1409659813)


def test_round_trip_of_our_own_encryption() -> None:
    plain = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[LiWei]]></FromUserName>"
        "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content><MsgId>1</MsgId></xml>"
    )
    envelope = crypto().encrypt(plain, "12345", "1700000000")
    fields = xmltodict.parse(envelope)["xml"]
    message = crypto().decrypt(envelope, fields["MsgSignature"], "1700000000", "12345", now=1700000000)
    assert message["Content"] == "你好"


def test_long_answers_split_under_2048_bytes_on_sentence_boundaries() -> None:
    text = "".join(f"第{i}条建议：先问清预算和审批人，再谈价格。" for i in range(200))
    parts = split_message(text)
    assert len(parts) > 1 and all(len(p.encode()) <= 2048 for p in parts)
    assert "".join(parts) == text
    assert all(p.endswith("。") for p in parts)


def test_render_adds_numbered_sources_in_the_reply_language() -> None:
    reply = Reply(text="先问后答 [1]。", citations=[Citation(1, 3, "价格异议应对话术", "kb/price.md")], language="zh")
    assert render(reply).endswith("**来源**\n[1] 价格异议应对话术")
