"""Pushes to an account's server, received by a developer server written
with wechatpy's own parse_message / create_reply / WeChatCrypto, in plain,
compatible and safe mode; its passive replies come back through the
sandbox API."""
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import check_signature

from conftest import wait_for


class DeveloperServer:
    """An account's server as a wechatpy developer writes it."""

    def __init__(self, account, status=200, wrong_echo=False):
        self.account = account
        self.mode = "plain"
        self.received = []
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _query(self):
                return {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}

            def do_GET(self):
                q = self._query()
                check_signature(outer.account["token"], q["signature"], q["timestamp"], q["nonce"])
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"nope" if wrong_echo else q["echostr"].encode())

            def do_POST(self):
                outer.hits += 1
                q = self._query()
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if status != 200:
                    self.send_response(status)
                    self.end_headers()
                    return
                a = outer.account
                check_signature(a["token"], q["signature"], q["timestamp"], q["nonce"])
                crypto = WeChatCrypto(a["token"], a["encoding_aes_key"], a["appid"])
                if q.get("encrypt_type") == "aes":
                    xml = crypto.decrypt_message(body, q["msg_signature"], q["timestamp"], q["nonce"])
                else:
                    xml = body
                msg = parse_message(xml)
                outer.received.append(msg)
                if msg.type == "text":
                    reply = create_reply("echo: " + msg.content, msg).render()
                elif msg.type == "event" and msg.event == "click":
                    reply = create_reply("clicked " + msg.key, msg).render()
                elif msg.type == "event" and msg.event == "subscribe":
                    reply = create_reply([{"title": "欢迎", "description": "thanks", "image": "http://x/i.png", "url": "http://x/"}], msg).render()
                else:
                    reply = "success"
                if q.get("encrypt_type") == "aes" and reply != "success":
                    reply = crypto.encrypt_message(reply, q["nonce"], q["timestamp"])
                out = reply.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/xml")
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/wx"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def set_server(koudai, account, url, mode):
    return koudai.sandbox("POST", f"/sandbox/v1/mp/{account['appid']}/server", json={"url": url, "message_mode": mode})


def push(koudai, account, **body):
    r = koudai.sandbox("POST", f"/sandbox/v1/mp/{account['appid']}/push", json=body)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("mode", ["plain", "compatible", "safe"])
def test_messages_and_events_reach_the_developer_server_and_replies_come_back(koudai, mode):
    account = koudai.demo["accounts"][0]
    server = DeveloperServer(account)
    try:
        r = set_server(koudai, account, server.url + f"?mode={mode}", mode)
        assert r.status_code == 200, r.text
        openid = koudai.consumer("alice")["openids"][account["appid"]]
        got = push(koudai, account, openid=openid, msg_type="text", content="你好 hello")
        assert got == {"delivered": True, "reply": {"msg_type": "text", "content": "echo: 你好 hello"}}
        msg = server.received[-1]
        assert msg.source == openid and msg.target == account["original_id"] and msg.id

        got = push(koudai, account, openid=openid, msg_type="event", event="CLICK", event_key="V1001_GOOD")
        assert got["reply"] == {"msg_type": "text", "content": "clicked V1001_GOOD"}
        assert server.received[-1].key == "V1001_GOOD"

        got = push(koudai, account, openid=openid, msg_type="event", event="subscribe")
        assert got["reply"]["msg_type"] == "news" and got["reply"]["articles"][0]["title"] == "欢迎"

        got = push(koudai, account, openid=openid, msg_type="event", event="VIEW", event_key="http://x/")
        assert got == {"delivered": True, "reply": None}, "'success' means no reply"
    finally:
        server.close()


def test_a_server_that_fails_the_handshake_is_not_set(koudai):
    account = koudai.demo["accounts"][1]
    server = DeveloperServer(account, wrong_echo=True)
    try:
        r = set_server(koudai, account, server.url, "plain")
        assert r.status_code == 400 and "echostr" in r.json()["message"], r.text
    finally:
        server.close()


def test_a_failing_server_is_tried_three_times_five_seconds_apart(koudai):
    account = koudai.demo["accounts"][1]
    # It passes the URL verification (GET) and answers every push with a 500.
    failing = DeveloperServer(account, status=500)
    try:
        assert set_server(koudai, account, failing.url, "plain").status_code == 200
        openid = koudai.consumer("bob")["openids"][account["appid"]]
        got = push(koudai, account, openid=openid, msg_type="text", content="anyone there?")
        assert got == {"delivered": False, "reply": None}
        assert failing.hits == 1
        koudai.advance(5)
        wait_for(lambda: failing.hits == 2)
        koudai.advance(5)
        wait_for(lambda: failing.hits == 3)
        koudai.advance(60)
        time.sleep(1.5)
        assert failing.hits == 3, "three tries in all"
    finally:
        failing.close()
