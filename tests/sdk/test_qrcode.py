"""Parametric QR codes with the unmodified wechatpy 1.8.18 (`client.qrcode.*`):
temporary and permanent codes, the 40053 refusals, a real PNG from
showqrcode (wechatpy's hard-coded host redirected to Koudai in the test
only), expiry on the business clock, and scans pushed as subscribe
(qrscene_) or SCAN events parsed by wechatpy."""
import struct
import zlib
from urllib.parse import urlparse

import pytest
import requests
from wechatpy.client.api import qrcode as qrcode_module
from wechatpy.client.api.qrcode import WeChatQRCode
from wechatpy.exceptions import WeChatClientException

from conftest import wait_for
from test_mp import client_for
from test_mp_push import DeveloperServer


@pytest.fixture
def show_on_koudai(koudai, monkeypatch):
    """wechatpy's qrcode.show calls https://mp.weixin.qq.com itself."""
    real_get = requests.get

    def get(url, **kwargs):
        kwargs.setdefault("timeout", 10)
        if url.startswith("https://mp.weixin.qq.com/"):
            url = koudai.base_url + urlparse(url).path
        return real_get(url, **kwargs)

    monkeypatch.setattr(qrcode_module.requests, "get", get)


def png_pixels(body):
    """Width, height and the greyscale rows of our PNG (no filters)."""
    assert body[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(body):
        length, kind = struct.unpack(">I4s", body[pos:pos + 8])
        chunk = body[pos + 8:pos + 8 + length]
        assert zlib.crc32(kind + chunk) == struct.unpack(">I", body[pos + 8 + length:pos + 12 + length])[0]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    assert len(raw) == height * (width + 1)
    return width, height, raw


def test_codes_their_images_and_expiry(koudai, show_on_koudai):
    client = client_for(koudai, koudai.demo["accounts"][0])
    temp = client.qrcode.create({"expire_seconds": 600, "action_name": "QR_SCENE",
                                 "action_info": {"scene": {"scene_id": 123}}})
    assert temp["expire_seconds"] == 600 and temp["url"].startswith(koudai.base_url + "/q/")
    assert client.qrcode.create({"action_name": "QR_STR_SCENE",
                                 "action_info": {"scene": {"scene_str": "s"}}})["expire_seconds"] == 60
    perm = client.qrcode.create({"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "store_42"}}})
    assert "expire_seconds" not in perm
    again = client.qrcode.create({"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "store_42"}}})
    assert again["ticket"] == perm["ticket"], "a permanent scene has one code"

    r = client.qrcode.show(temp["ticket"])
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    width, height, raw = png_pixels(r.content)
    assert width == height and width >= 200 and 0 in raw and 255 in raw
    # get_url leaves "/" unescaped; the server decodes the rest.
    url = WeChatQRCode.get_url(perm["ticket"]).replace("https://mp.weixin.qq.com", koudai.base_url)
    assert requests.get(url, timeout=10).status_code == 200
    assert requests.get(koudai.base_url + "/cgi-bin/showqrcode", params={"ticket": "nope"}, timeout=10).status_code == 404

    koudai.advance(601)
    assert client.qrcode.show(temp["ticket"]).status_code == 404, "expired"
    assert client.qrcode.show(perm["ticket"]).status_code == 200, "permanent"


@pytest.mark.parametrize("body", [
    {"action_name": "QR_NOPE", "action_info": {"scene": {"scene_id": 1}}},
    {"action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 0}}},
    {"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 100001}}},
    {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "x" * 65}}},
    {"action_name": "QR_STR_SCENE", "action_info": {"scene": {}}},
    {"action_name": "QR_SCENE", "expire_seconds": -5, "action_info": {"scene": {"scene_id": 7}}},
    {"action_name": "QR_SCENE"},
])
def test_invalid_codes_are_40053(koudai, body):
    client = client_for(koudai, koudai.demo["accounts"][0])
    with pytest.raises(WeChatClientException) as e:
        client.qrcode.create(body)
    assert e.value.errcode == 40053, e.value.errmsg


def test_a_scan_is_subscribe_with_the_scene_then_scan(koudai):
    account = koudai.demo["accounts"][1]
    client = client_for(koudai, account)
    server = DeveloperServer(account)
    try:
        r = koudai.sandbox("POST", f"/sandbox/v1/mp/{account['appid']}/server", json={"url": server.url, "message_mode": "safe"})
        assert r.status_code == 200, r.text
        ticket = client.qrcode.create({"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 42}}})["ticket"]
        r = koudai.sandbox("POST", "/sandbox/v1/qrcode/scan", json={"ticket": ticket, "consumer": "bob"})
        assert r.status_code == 200 and r.json() == {"event": "subscribe", "delivered": True}, r.text
        first = wait_for(lambda: [m for m in server.received if getattr(m, "event", "") == "subscribe_scan"])[0]
        assert first.scene_id == "42" and first.ticket == ticket
        r = koudai.sandbox("POST", "/sandbox/v1/qrcode/scan", json={"ticket": ticket, "consumer": "bob"})
        assert r.json() == {"event": "SCAN", "delivered": True}, r.text
        second = wait_for(lambda: [m for m in server.received if getattr(m, "event", "") == "scan"])[0]
        assert second.scene_id == "42" and second.ticket == ticket
        r = koudai.sandbox("POST", "/sandbox/v1/qrcode/scan", json={"ticket": "gone", "consumer": "bob"})
        assert r.status_code == 404, r.text
    finally:
        server.close()
