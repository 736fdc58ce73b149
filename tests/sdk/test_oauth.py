"""Web OAuth with the unmodified wechatpy 1.8.18 `WeChatOAuth`: the code
exchange, refresh, user info and token check; the errors; and in a real
headless Chromium, a merchant's payment page that learns the payer's openid
through OAuth and has a JSAPI order for that openid paid on the cashier."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from wechatpayv3 import WeChatPayType
from wechatpy.exceptions import WeChatOAuthException
from wechatpy.oauth import WeChatOAuth

from conftest import PAGE_TURNS, new_out_trade_no


def oauth_for(koudai, account, redirect_uri="http://127.0.0.1:9/cb", scope="snsapi_base"):
    o = WeChatOAuth(account["appid"], account["secret"], redirect_uri, scope=scope, state="st8")
    o.API_BASE_URL = koudai.base_url + "/"
    o.OAUTH_BASE_URL = koudai.base_url + "/connect/"
    return o


def consent(koudai, account, consumer, scope, redirect_uri="http://127.0.0.1:9/cb"):
    r = koudai.sandbox("POST", "/sandbox/v1/oauth/authorize",
                       json={"appid": account["appid"], "consumer": consumer, "scope": scope,
                             "redirect_uri": redirect_uri, "state": "st8"})
    assert r.status_code == 200, r.text
    q = parse_qs(urlparse(r.json()["redirect"]).query)
    assert q["state"] == ["st8"]
    return q["code"][0]


def test_code_exchange_refresh_userinfo_and_check(koudai):
    account = koudai.demo["accounts"][0]
    o = oauth_for(koudai, account, scope="snsapi_userinfo")
    assert o.authorize_url.startswith(koudai.base_url + "/connect/oauth2/authorize?appid=" + account["appid"])
    code = consent(koudai, account, "alice", "snsapi_userinfo")
    res = o.fetch_access_token(code)
    alice_openid = koudai.consumer("alice")["openids"][account["appid"]]
    assert res["openid"] == alice_openid and res["scope"] == "snsapi_userinfo" and res["expires_in"] == 7200
    info = o.get_user_info()
    assert info["openid"] == alice_openid and info["nickname"] == "alice"
    assert o.check_access_token() is True
    refreshed = o.refresh_access_token(res["refresh_token"])
    assert refreshed["access_token"] != res["access_token"] and refreshed["openid"] == alice_openid
    # A code is used once.
    with pytest.raises(WeChatOAuthException) as e:
        o.fetch_access_token(code)
    assert e.value.errcode == 40163


def test_base_scope_tokens_cannot_read_user_info_and_codes_expire(koudai):
    account = koudai.demo["accounts"][1]
    o = oauth_for(koudai, account)
    o.fetch_access_token(consent(koudai, account, "bob", "snsapi_base"))
    with pytest.raises(WeChatOAuthException) as e:
        o.get_user_info()
    assert e.value.errcode == 48001
    late = consent(koudai, account, "bob", "snsapi_base")
    koudai.advance(301)
    with pytest.raises(WeChatOAuthException) as e:
        o.fetch_access_token(late)
    assert e.value.errcode == 42003
    for bad, code in (("nope", 40029), ("", 41008)):
        with pytest.raises(WeChatOAuthException) as e:
            o.fetch_access_token(bad)
        assert e.value.errcode == code
    wrong = WeChatOAuth(account["appid"], "wrong-secret", "http://127.0.0.1:9/cb")
    wrong.API_BASE_URL = koudai.base_url + "/"
    with pytest.raises(WeChatOAuthException) as e:
        wrong.fetch_access_token(consent(koudai, account, "bob", "snsapi_base"))
    assert e.value.errcode == 40125


class PaymentPage:
    """A merchant's payment page: sends the browser through OAuth, learns
    the openid, places a JSAPI order for it, and links to the cashier."""

    def __init__(self, koudai, wxpay, account):
        outer = self
        self.openid = None

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                oauth = oauth_for(koudai, account, redirect_uri=outer.base + "/callback")
                if url.path == "/":
                    self.send_response(302)
                    self.send_header("Location", oauth.authorize_url)
                    self.end_headers()
                    return
                openid = oauth.fetch_access_token(q["code"])["openid"]
                outer.openid = openid
                no = new_out_trade_no()
                code, text = wxpay.pay(description="OAuth tea", out_trade_no=no, amount={"total": 666}, payer={"openid": openid})
                assert code == 200, text
                package = "prepay_id=" + json.loads(text)["prepay_id"]
                ts, nonce = str(int(time.time())), "N" + new_out_trade_no()
                sign = wxpay.sign([account["appid"], ts, nonce, package])
                params = {"appId": account["appid"], "timeStamp": ts, "nonceStr": nonce, "package": package, "signType": "RSA", "paySign": sign}
                link = koudai.base_url + "/pay/jsapi?" + requests.models.RequestEncodingMixin._encode_params(params)
                page = f'<html><body><p id="openid">{openid}</p><p id="order">{no}</p><a id="pay" href="{link}">pay</a></body></html>'
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(page.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_payment_page_gets_the_openid_through_oauth_and_the_payer_pays(koudai, browser):
    m = next(m for m in koudai.demo["merchants"] if m["key_mode"] == "public_key")
    account = next(a for a in koudai.demo["accounts"] if a["appid"] == m["appid"])
    wxpay = koudai.sdk("public_key", wechatpay_type=WeChatPayType.JSAPI)
    bob = koudai.consumer("bob")
    page = PaymentPage(koudai, wxpay, account)
    try:
        browser.delete_all_cookies()
        browser.get(page.base + "/")
        WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "authorize-form")))
        browser.find_element(By.ID, "login").send_keys("bob")
        browser.find_element(By.ID, "password").send_keys(bob["password"])
        browser.find_element(By.ID, "allow").click()
        openid = WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "openid"))).text
        assert openid == bob["openids"][account["appid"]]
        no = browser.find_element(By.ID, "order").text
        browser.find_element(By.ID, "pay").click()
        WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "login"))).send_keys("bob")
        browser.find_element(By.ID, "password").send_keys(bob["password"])
        browser.find_element(By.ID, "pay").click()
        WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "result")))
        code, text = wxpay.query(out_trade_no=no)
        paid = json.loads(text)
        assert paid["trade_state"] == "SUCCESS" and paid["payer"]["openid"] == openid
    finally:
        page.close()
