"""The cashier in a real headless Chromium (Debian's chromium + chromium-driver)."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from wechatpayv3 import WeChatPayType

from conftest import PAGE_TURNS, new_out_trade_no


def test_consumer_logs_in_and_pays_on_the_native_cashier(koudai, browser):
    wxpay = koudai.sdk("public_key")
    out_trade_no = new_out_trade_no()
    code, text = wxpay.pay(description="Oolong tea", out_trade_no=out_trade_no, amount={"total": 2599})
    assert code == 200, text
    token = json.loads(text)["code_url"].split("pr=", 1)[1]
    alice = koudai.consumer("alice")

    browser.get(f"{koudai.base_url}/pay/native?pr={token}")
    assert browser.find_element(By.ID, "amount").text == "¥25.99"
    assert browser.find_element(By.CSS_SELECTOR, ".qr svg")  # the QR code is rendered
    browser.find_element(By.ID, "login").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys("wrong-password")
    browser.find_element(By.ID, "pay").click()
    error = WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "error")))
    assert "账号或密码错误" in error.text

    browser.find_element(By.ID, "login").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys(alice["password"])
    browser.find_element(By.ID, "pay").click()
    result = WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "result")))
    assert "25.99" in result.text
    transaction_id = browser.find_element(By.ID, "transaction-id").text

    code, text = wxpay.query(out_trade_no=out_trade_no)
    paid = json.loads(text)
    assert paid["trade_state"] == "SUCCESS" and paid["transaction_id"] == transaction_id

    # Logged in now: a second order is one click, and a too-large one fails visibly.
    code, text = wxpay.pay(description="Gold bar", out_trade_no=new_out_trade_no(), amount={"total": 90_000_000})
    browser.get(f"{koudai.base_url}/pay/native?pr={json.loads(text)['code_url'].split('pr=', 1)[1]}")
    assert browser.find_element(By.ID, "login").text == "alice"
    browser.find_element(By.ID, "pay").click()
    error = WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "error")))
    assert "NOT_ENOUGH" in error.text
    assert browser.find_element(By.ID, "trade-state").text == "NOTPAY"


class MerchantPage:
    """A merchant's own web page on another origin, which includes Koudai's
    jsbridge.js and calls WeixinJSBridge.invoke('getBrandWCPayRequest')."""

    def __init__(self, html):
        page = html.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def jsapi_params(wxpay, prepay_id):
    ts, nonce = str(int(time.time())), "N" + new_out_trade_no()
    package = f"prepay_id={prepay_id}"
    sign = wxpay.sign([wxpay._appid, ts, nonce, package])
    return {"appId": wxpay._appid, "timeStamp": ts, "nonceStr": nonce, "package": package, "signType": "RSA", "paySign": sign}


def test_jsapi_bridge_verifies_pay_sign_and_pays(koudai, browser):
    wxpay = koudai.sdk("certificate", wechatpay_type=WeChatPayType.JSAPI)
    bob = koudai.consumer("bob")
    out_trade_no = new_out_trade_no()
    code, text = wxpay.pay(description="Poetry book", out_trade_no=out_trade_no, amount={"total": 880},
                           payer={"openid": bob["openids"][wxpay._appid]})
    assert code == 200, text
    good = jsapi_params(wxpay, json.loads(text)["prepay_id"])
    bad = dict(good, paySign=good["paySign"][:-8] + "AAAAAAA=")
    page = MerchantPage(f"""<!doctype html><html><head><meta charset="utf-8">
<script src="{koudai.base_url}/static/jsbridge.js"></script></head><body>
<button id="bad" onclick='pay({json.dumps(bad)})'>bad</button>
<button id="good" onclick='pay({json.dumps(good)})'>good</button><div id="out"></div>
<script>function pay(p) {{ WeixinJSBridge.invoke('getBrandWCPayRequest', p, function (res) {{
  document.getElementById('out').textContent = res.err_msg; }}); }}</script></body></html>""")
    try:
        browser.get(page.url)
        browser.find_element(By.ID, "bad").click()
        frame = WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#koudai-cashier iframe")))
        browser.switch_to.frame(frame)
        assert "paySign" in WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "error"))).text
        assert not browser.find_elements(By.ID, "pay")
        browser.switch_to.default_content()
        browser.get(page.url)

        browser.find_element(By.ID, "good").click()
        frame = WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#koudai-cashier iframe")))
        browser.switch_to.frame(frame)
        WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "login"))).send_keys("bob")
        browser.find_element(By.ID, "password").send_keys(bob["password"])
        browser.find_element(By.ID, "pay").click()
        WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "done"))).click()
        browser.switch_to.default_content()
        WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(lambda d: d.find_element(By.ID, "out").text == "get_brand_wcpay_request:ok")
    finally:
        browser.switch_to.default_content()
        page.close()
    code, text = wxpay.query(out_trade_no=out_trade_no)
    assert json.loads(text)["trade_state"] == "SUCCESS"
