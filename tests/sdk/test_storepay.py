"""Store pay codes: a payment at an approved store's pay code is a real
Native payment of the account's owner (partner mode for a sub-merchant),
seen through the unmodified wechatpayv3 with the store in `attach` and
`scene_info.store_info`, called back to the URL the merchant set in the
console, counted in the sales per store and in the trade bill; a consumer
pays 12.34 in Chromium; `ledger verify` is clean."""
import json

import requests

from conftest import PAGE_TURNS, wait_for
from test_money import read_bill
from test_mp import client_for
from test_poi import merchant_account, photo, store


def approved_store(koudai, account, **changes):
    client = client_for(koudai, account)
    poi_id = client.poi.add(store(photo(client), **changes))["poi_id"]
    r = koudai.sandbox("POST", f"/sandbox/v1/poi/{poi_id}/audit", json={"result": "succ", "msg": "ok"})
    assert r.status_code == 200, r.text
    return poi_id


def owner(koudai, account):
    return next(m for m in koudai.demo["merchants"] if m["mchid"] == account["owner_mchid"])


def storepay(koudai, **body):
    return koudai.sandbox("POST", "/sandbox/v1/storepay", json=body)


def test_a_store_payment_is_the_merchants_payment_naming_the_store(koudai):
    account = merchant_account(koudai)
    poi_id = approved_store(koudai, account, sid="pay-1", branch_name="Zhujiang")
    r = storepay(koudai, poi_id=poi_id, consumer="bob", amount=888)
    assert r.status_code == 200, r.text
    paid = r.json()
    assert paid["trade_state"] == "SUCCESS" and len(paid["transaction_id"]) == 28

    code, body = koudai.sdk(owner(koudai, account)["key_mode"]).query(transaction_id=paid["transaction_id"])
    assert code == 200, body
    tx = json.loads(body)
    assert tx["trade_type"] == "NATIVE" and tx["amount"]["total"] == 888 and tx["attach"] == f"store:{poi_id}"
    assert tx["scene_info"]["store_info"] == {"id": poi_id, "name": "Koudai Tea（Zhujiang）",
                                              "address": "广东省广州市天河区1 Koudai Road"}
    assert tx["payer"]["openid"]

    # A poi_id as a number is the same store; a number that is not a store is 404.
    assert storepay(koudai, poi_id=int(poi_id), consumer="bob", amount=1).status_code == 200
    for body, status, code in [
        ({"poi_id": poi_id, "consumer": "bob", "amount": 0}, 400, "INVALID_REQUEST"),
        ({"poi_id": poi_id, "consumer": "bob", "amount": "1.00"}, 400, "PARAM_ERROR"),
        ({"poi_id": poi_id, "consumer": "bob", "amount": 1.5}, 400, "PARAM_ERROR"),
        ({"poi_id": poi_id, "consumer": "bob"}, 400, "PARAM_ERROR"),
        ({"poi_id": poi_id, "consumer": "nobody", "amount": 1}, 400, "INVALID_REQUEST"),
        ({"poi_id": poi_id, "consumer": "bob", "amount": 5_000_000}, 403, "NOT_ENOUGH"),
        ({"poi_id": "999", "consumer": "bob", "amount": 1}, 404, "RESOURCE_NOT_EXISTS"),
        ({"poi_id": "../1", "consumer": "bob", "amount": 1}, 404, "RESOURCE_NOT_EXISTS"),
        ({"poi_id": [1], "consumer": "bob", "amount": 1}, 400, "PARAM_ERROR"),
    ]:
        r = storepay(koudai, **body)
        assert (r.status_code, r.json()["code"]) == (status, code), (body, r.text)
    r = koudai.sandbox("POST", "/sandbox/v1/storepay", data=b"{not json")
    assert r.status_code == 400 and r.json()["code"] == "PARAM_ERROR"

    # A store under audit takes no payments, and neither does its page.
    client = client_for(koudai, account)
    pending = client.poi.add(store(photo(client), sid="pay-pending"))["poi_id"]
    r = storepay(koudai, poi_id=pending, consumer="bob", amount=1)
    assert r.status_code == 404 and r.json()["code"] == "RESOURCE_NOT_EXISTS"
    assert requests.get(f"{koudai.base_url}/store/{pending}", timeout=10).status_code == 404
    koudai.verify()


def test_a_sub_merchants_store_payment_is_a_partner_payment(koudai):
    p = koudai.provider("official")
    sub = p["sub_merchants"][0]
    account = next(a for a in koudai.demo["accounts"] if a["owner_mchid"] == sub["sub_mchid"])
    poi_id = approved_store(koudai, account, sid="pay-sub")
    r = storepay(koudai, poi_id=poi_id, consumer="alice", amount=1234, follow=True)
    assert r.status_code == 200, r.text
    assert r.json()["mchid"] == sub["sub_mchid"]
    code, body = koudai.provider_sdk("official").query(transaction_id=r.json()["transaction_id"], sub_mchid=sub["sub_mchid"])
    assert code == 200, body
    tx = json.loads(body)
    assert (tx["sp_mchid"], tx["sub_mchid"], tx["sub_appid"]) == (p["sp_mchid"], sub["sub_mchid"], account["appid"])
    assert tx["attach"] == f"store:{poi_id}" and tx["scene_info"]["store_info"]["id"] == poi_id


def test_a_scene_info_store_on_a_prepay_is_kept(koudai):
    from conftest import new_out_trade_no
    wxpay = koudai.sdk("public_key")
    no = new_out_trade_no()
    code, body = wxpay.pay(description="at the counter", out_trade_no=no, amount={"total": 5},
                           scene_info={"payer_client_ip": "127.0.0.1",
                                       "store_info": {"id": "S-01", "name": "Front desk", "area_code": "440106"}})
    assert code == 200, body
    tx = json.loads(wxpay.query(out_trade_no=no)[1])
    assert tx["scene_info"]["store_info"] == {"id": "S-01", "name": "Front desk", "area_code": "440106"}
    code, body = wxpay.pay(description="x", out_trade_no=new_out_trade_no(), amount={"total": 5},
                           scene_info={"store_info": {"name": "no id"}})
    assert code == 400 and json.loads(body)["code"] == "PARAM_ERROR" and "store_info.id" in body


def test_a_consumer_pays_12_34_at_a_store_in_the_browser(koudai, browser, receiver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from test_console import log_in

    def appears(element_id):
        return WebDriverWait(browser, 15, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, element_id)))

    def shows(element_id, text):
        return WebDriverWait(browser, 15, ignored_exceptions=PAGE_TURNS).until(EC.text_to_be_present_in_element((By.ID, element_id), text))

    koudai.clear_of_midnight(600)
    day = koudai.business_date()
    account = merchant_account(koudai)
    m = owner(koudai, account)
    poi_id = approved_store(koudai, account, sid="pay-browser", branch_name="Haizhu")

    # The merchant sets where store payments are called back, and finds the pay code.
    log_in(koudai, browser, m["console"]["login"], m["console"]["password"])
    browser.set_window_size(1280, 1200)
    browser.get(f"{koudai.base_url}/console/accounts/{account['appid']}/stores")
    appears("notify-url").send_keys("ftp://nowhere")
    browser.find_element(By.ID, "save-notify").click()
    assert shows("error", "回调地址无效")
    field = appears("notify-url")
    field.clear()
    field.send_keys(receiver.url)
    browser.find_element(By.ID, "save-notify").click()
    assert shows("notice", "回调地址已保存")
    appears(f"print-{poi_id}").click()
    assert shows("store-name", "Koudai Tea（Haizhu）")
    assert appears("code").get_attribute("naturalWidth") not in (None, "0"), "the QR image loads"
    assert browser.find_element(By.ID, "pay-url").text == f"{koudai.base_url}/store/{poi_id}"
    png = requests.get(f"{koudai.base_url}/store/{poi_id}/code.png", timeout=10)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    browser.save_screenshot(str(tmp_path / "pay-code-print.png"))

    # The consumer opens the code's page, signs in and comes back to pay.
    alice = koudai.consumer("alice")
    browser.delete_all_cookies()
    browser.set_window_size(480, 1000)
    browser.get(f"{koudai.base_url}/store/{poi_id}")
    appears("sign-in-link").click()
    appears("login").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys(alice["password"])
    browser.find_element(By.ID, "sign-in").click()
    amount = appears("amount")
    assert browser.current_url == f"{koudai.base_url}/store/{poi_id}"
    amount.send_keys("12.345")
    browser.find_element(By.ID, "pay").click()
    assert shows("error", "12.34")
    amount = appears("amount")
    amount.clear()
    amount.send_keys("12.34")
    if browser.find_elements(By.ID, "follow"):
        browser.find_element(By.CSS_SELECTOR, "label[for=follow]").click()
    browser.save_screenshot(str(tmp_path / "pay-code-page.png"))
    browser.find_element(By.ID, "pay").click()
    assert shows("paid-amount", "12.34")
    transaction_id = browser.find_element(By.ID, "transaction-id").text
    assert len(transaction_id) == 28
    browser.save_screenshot(str(tmp_path / "pay-code-paid.png"))

    # The callback: the merchant's key opens it; it names the store.
    wxpay = koudai.sdk(m["key_mode"])
    headers, raw = wait_for(lambda: receiver.next(timeout=15))
    resource = wxpay.callback(headers, raw)["resource"]
    assert resource["transaction_id"] == transaction_id and resource["amount"]["total"] == 1234
    assert resource["attach"] == f"store:{poi_id}" and resource["scene_info"]["store_info"]["id"] == poi_id

    # The merchant's sales per store.
    log_in(koudai, browser, m["console"]["login"], m["console"]["password"])
    browser.set_window_size(1280, 1200)
    browser.get(f"{koudai.base_url}/console/accounts/{account['appid']}/stores")
    row = appears(f"store-{poi_id}")
    assert row.find_element(By.CSS_SELECTOR, ".payments").text == "1"
    assert row.find_element(By.CSS_SELECTOR, ".sales").text == "12.34"
    browser.save_screenshot(str(tmp_path / "store-sales.png"))

    # A fixed price list: the page offers those prices only.
    field = browser.find_element(By.ID, f"prices-{poi_id}")
    field.clear()
    field.send_keys("5, 12.50")
    row.find_element(By.CSS_SELECTOR, "button.small").click()
    assert shows("notice", "Prices saved")
    r = storepay(koudai, poi_id=poi_id, consumer="bob", amount=1234)
    assert r.status_code == 400 and "prices" in r.json()["message"]
    assert storepay(koudai, poi_id=poi_id, consumer="bob", amount=1250).status_code == 200

    # The day's trade bill carries the store in the attach column.
    if koudai.business_date() != day:
        return
    koudai.advance(24 * 3600)
    code, body = wxpay.trade_bill(bill_date=day)
    assert code == 200, body
    lines = read_bill(wxpay, json.loads(body)).splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, (f.lstrip("`") for f in line.split(",")))) for line in lines[1:-2]]
    mine = [r for r in rows if r["微信订单号"] == transaction_id]
    assert len(mine) == 1 and mine[0]["商户数据包"] == f"store:{poi_id}" and mine[0]["应结订单金额"] == "12.34"
    koudai.verify()


def test_a_retried_store_payment_pays_once(koudai):
    from concurrent.futures import ThreadPoolExecutor

    account = merchant_account(koudai)
    poi_id = approved_store(koudai, account, sid="pay-retry")
    body = {"poi_id": poi_id, "consumer": "bob", "amount": 300, "request_id": "till-7-0001"}
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: storepay(koudai, **body), range(6)))
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    assert len({r.json()["transaction_id"] for r in answers}) == 1
    assert len({r.json()["out_trade_no"] for r in answers}) == 1
    again = storepay(koudai, **body)
    assert again.json()["transaction_id"] == answers[0].json()["transaction_id"]
    r = storepay(koudai, **{**body, "amount": 301})
    assert r.status_code == 400 and r.json()["code"] == "INVALID_REQUEST"
    # Another consumer with the same request_id is another payment.
    other = storepay(koudai, **{**body, "consumer": "alice"})
    assert other.status_code == 200 and other.json()["transaction_id"] != answers[0].json()["transaction_id"]
    code, text = koudai.sdk(owner(koudai, account)["key_mode"]).query(out_trade_no=answers[0].json()["out_trade_no"])
    assert code == 200 and json.loads(text)["amount"]["total"] == 300
    koudai.verify()


def test_a_merchant_adds_a_store_in_the_console_and_prints_its_pay_code(koudai, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from test_console import log_in
    from test_poi import PNG

    def appears(element_id):
        return WebDriverWait(browser, 15, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, element_id)))

    def shows(element_id, text):
        return WebDriverWait(browser, 15, ignored_exceptions=PAGE_TURNS).until(EC.text_to_be_present_in_element((By.ID, element_id), text))

    account = merchant_account(koudai)
    m = owner(koudai, account)
    picture = tmp_path / "front.png"
    picture.write_bytes(PNG)
    log_in(koudai, browser, m["console"]["login"], m["console"]["password"])
    browser.set_window_size(1280, 1600)
    browser.get(f"{koudai.base_url}/console/accounts/{account['appid']}/stores")
    fields = {"business_name": "Koudai Tea", "branch_name": "Console", "sid": "console-1", "province": "广东省",
              "city": "广州市", "district": "越秀区", "address": "2 Koudai Road", "telephone": "call me",
              "latitude": "23.129", "longitude": "113.264", "special": "Wi-Fi", "open_time": "9:00-21:00",
              "avg_price": "30"}
    for name, value in fields.items():
        appears(name).send_keys(value)
    Select(browser.find_element(By.ID, "category")).select_by_value("美食,茶馆,茶馆")
    browser.find_element(By.ID, "photo").send_keys(str(picture))
    browser.find_element(By.ID, "add-store").click()
    assert shows("error", "65111")  # the API's own check and errcode
    assert appears("business_name").get_attribute("value") == "Koudai Tea", "the form keeps what was typed"
    phone = browser.find_element(By.ID, "telephone")
    phone.clear()
    phone.send_keys("020-12345678")
    browser.find_element(By.ID, "photo").send_keys(str(picture))
    browser.find_element(By.ID, "add-store").click()
    assert shows("notice", "审核")
    row = next(r for r in browser.find_elements(By.CSS_SELECTOR, "#stores tbody tr") if "Console" in r.text)
    assert "审核中" in row.text and "After approval" in row.text
    poi_id = row.get_attribute("id").removeprefix("store-")
    browser.save_screenshot(str(tmp_path / "console-add-store.png"))

    # The developer sees it through the API; the operator approves it; it has a pay code.
    info = client_for(koudai, account).poi.get(poi_id)["business"]["base_info"]
    assert (info["sid"], info["available_state"], info["categories"]) == ("console-1", 2, ["美食,茶馆,茶馆"])
    assert info["photo_list"][0]["photo_url"].startswith(koudai.base_url + "/shop/img/")
    r = koudai.sandbox("POST", f"/sandbox/v1/poi/{poi_id}/audit", json={"result": "succ", "msg": "ok"})
    assert r.status_code == 200, r.text
    browser.refresh()
    appears(f"print-{poi_id}").click()
    assert shows("store-name", "Koudai Tea（Console）")
