"""Shop orders with the unmodified wechatpy 1.8.18: a purchase through the
sandbox is a real JSAPI payment of the merchant; the account's server gets
the `merchant_order` push (parsed by wechatpy's own parse_message, in safe
mode); the merchant reads, filters and ships the order, the consumer
confirms receipt and opens and closes a rights case; closing a paid order
refunds it; concurrent buyers never oversell; `ledger verify` is clean."""
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from wechatpy.exceptions import WeChatClientException

from conftest import PAGE_TURNS, wait_for
from test_mp import client_for
from test_mp_push import DeveloperServer
from test_shop import PNG, merchant_account, shop_base  # noqa: F401 (the fixture patches wechatpy's bases)

ADDRESS = {"name": "Alice", "phone": "13800138000", "province": "广东省", "city": "广州市", "zone": "天河区",
           "address": "1 Koudai Road"}


def necklace(client, stock, price=1000, post_free=True):
    img = client.merchant.common.upload_image("n.png", PNG)
    body = {"product_base": {"category_id": ["537074501"], "name": "Silver necklace", "main_img": img, "img": [img],
                             "detail": [{"text": "925"}]},
            "sku_list": [{"sku_id": "", "price": price, "ori_price": price * 2, "quantity": stock}],
            "attrext": {"isPostFree": 1 if post_free else 0}}
    if not post_free:
        body["delivery_info"] = {"delivery_type": 0, "express": [{"id": 10000028, "price": 800}]}
    pid = client.merchant.create(body)["product_id"]
    client.merchant.update_product_status(pid, 1)
    return pid


def owner_sdk(koudai, account):
    m = next(x for x in koudai.demo["merchants"] if x["mchid"] == account["owner_mchid"])
    return koudai.sdk(m["key_mode"])


def buy(koudai, account, pid, consumer="alice", count=1):
    return koudai.sandbox("POST", "/sandbox/v1/shop/buy", json={
        "appid": account["appid"], "consumer": consumer, "product_id": pid, "sku_info": "", "count": count,
        "address": ADDRESS})


def test_an_order_is_paid_pushed_shipped_confirmed_and_disputed(koudai):
    account = merchant_account(koudai)
    client = client_for(koudai, account)
    server = DeveloperServer(account)
    try:
        r = koudai.sandbox("POST", f"/sandbox/v1/mp/{account['appid']}/server",
                           json={"url": server.url, "message_mode": "safe"})
        assert r.status_code == 200, r.text
        pid = necklace(client, 3, post_free=False)
        r = buy(koudai, account, pid, count=2)
        assert r.status_code == 200, r.text
        order_id, transaction_id = r.json()["order_id"], r.json()["transaction_id"]
        assert r.json()["order_status"] == 2 and isinstance(order_id, str) and order_id.isdigit()
        pushed = wait_for(lambda: [m for m in server.received if getattr(m, "event", "") == "merchant_order"])[0]
        assert (pushed.order_id, pushed.order_status, pushed.product_id) == (order_id, 2, pid)
        assert pushed.sku_info is None, "a single-spec product pushes an empty SkuInfo"

        order = client.merchant.order.get(order_id)
        assert order["order_status"] == 2 and order["trans_id"] == transaction_id
        assert (order["product_count"], order["product_price"], order["order_express_price"]) == (2, 1000, 800)
        assert order["order_total_price"] == 2800 and order["receiver_zone"] == "天河区"
        assert order["buyer_openid"] == koudai.consumer("alice")["openids"][account["appid"]]
        assert order_id in [o["order_id"] for o in client.merchant.order.get_by_filter(status=2)]
        assert order_id in [o["order_id"] for o in client.merchant.query_order()["order_list"]]
        assert order_id not in [o["order_id"] for o in client.merchant.order.get_by_filter(status=3)]
        stock = client.merchant.get(pid)["product_info"]["sku_list"][0]["quantity"]
        assert stock == 1

        # The payment is the merchant's own JSAPI payment, seen through APIv3.
        code, body = owner_sdk(koudai, account).query(out_trade_no="SHOP" + order_id)
        assert code == 200, body
        payment = json.loads(body)
        assert payment["trade_state"] == "SUCCESS" and payment["transaction_id"] == transaction_id
        assert payment["trade_type"] == "JSAPI" and payment["amount"]["total"] == 2800

        with pytest.raises(WeChatClientException) as e:
            client.merchant.order.set_delivery(order_id, "not-a-company", "SF1")
        assert e.value.errcode == 40097
        assert client.merchant.order.set_delivery(order_id, "003shunfeng", "SF1234567")["errcode"] == 0
        shipped = client.merchant.order.get(order_id)
        assert shipped["order_status"] == 3 and shipped["delivery_id"] == "SF1234567"
        with pytest.raises(WeChatClientException) as e:
            client.merchant.order.close(order_id)
        assert e.value.errcode == 40097 and "not yet shipped" in e.value.errmsg

        r = koudai.sandbox("POST", f"/sandbox/v1/shop/orders/{order_id}/rights", json={"action": "open", "reason": "scratched"})
        assert r.status_code == 200 and r.json()["order_status"] == 8, r.text
        assert client.merchant.order.get(order_id)["order_status"] == 8
        r = koudai.sandbox("POST", f"/sandbox/v1/shop/orders/{order_id}/rights", json={"action": "close"})
        assert r.json()["order_status"] == 3, r.text
        r = koudai.sandbox("POST", f"/sandbox/v1/shop/orders/{order_id}/confirm")
        assert r.status_code == 200 and r.json()["order_status"] == 5, r.text
        r = koudai.sandbox("POST", f"/sandbox/v1/shop/orders/{order_id}/confirm")
        assert r.status_code == 409, r.text
    finally:
        server.close()


def test_closing_a_paid_order_refunds_it_and_puts_the_stock_back(koudai):
    account = merchant_account(koudai, 1)
    client = client_for(koudai, account)
    pid = necklace(client, 2)
    r = buy(koudai, account, pid, consumer="bob")
    assert r.status_code == 200, r.text
    order_id = r.json()["order_id"]
    assert client.merchant.get(pid)["product_info"]["sku_list"][0]["quantity"] == 1
    assert client.merchant.order.close(order_id)["errcode"] == 0
    assert client.merchant.order.get(order_id)["order_status"] == 6
    assert client.merchant.get(pid)["product_info"]["sku_list"][0]["quantity"] == 2
    code, body = owner_sdk(koudai, account).query_refund(out_refund_no="SHOPR" + order_id)
    assert code == 200 and json.loads(body)["amount"]["refund"] == 1000, body
    # Nothing more to close; an unknown order is refused.
    with pytest.raises(WeChatClientException) as e:
        client.merchant.order.close(order_id)
    assert e.value.errcode == 40097
    with pytest.raises(WeChatClientException) as e:
        client.merchant.order.get("12345")
    assert e.value.errcode == 40097


def test_refusals_stock_wallet_and_an_off_shelf_product(koudai):
    account = merchant_account(koudai)
    client = client_for(koudai, account)
    pid = necklace(client, 1, price=100_000_000)
    r = buy(koudai, account, pid, count=2)
    assert r.status_code == 400 and "out of stock" in r.json()["message"], r.text
    r = buy(koudai, account, pid)
    assert r.status_code == 403 and r.json()["code"] == "NOT_ENOUGH", r.text
    assert client.merchant.get(pid)["product_info"]["sku_list"][0]["quantity"] == 1, "the reservation was released"
    client.merchant.update_product_status(pid, 0)
    r = buy(koudai, account, pid)
    assert r.status_code == 400 and "shelves" in r.json()["message"], r.text


def test_twenty_buyers_for_the_last_ten_items_buy_exactly_ten(koudai):
    account = merchant_account(koudai, 1)
    client = client_for(koudai, account)
    pid = necklace(client, 10, price=100)
    buyers = [f"buyer{n}" for n in range(20)]
    for login in buyers:
        made = koudai.cli("admin", "consumer-create", "--login", login, "--password", "buyer-password-1",
                          "--balance-fen", "100000")
        assert made.returncode == 0, made.stderr
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda login: buy(koudai, account, pid, consumer=login), buyers))
    codes = sorted(a.status_code for a in answers)
    assert codes.count(200) == 10 and codes.count(400) == 10, [a.text for a in answers if a.status_code not in (200, 400)]
    assert client.merchant.get(pid)["product_info"]["sku_list"][0]["quantity"] == 0
    paid = [a.json()["order_id"] for a in answers if a.status_code == 200]
    listed = [o["order_id"] for o in client.merchant.order.get_by_filter(status=2)]
    assert set(paid) <= set(listed)
    koudai.verify()


def test_a_consumer_buys_on_the_shop_pages_the_merchant_ships_and_the_consumer_confirms(koudai, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from test_console import log_in

    def appears(element_id):
        return WebDriverWait(browser, 15, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, element_id)))

    def shows(element_id, text):
        return WebDriverWait(browser, 15, ignored_exceptions=PAGE_TURNS).until(EC.text_to_be_present_in_element((By.ID, element_id), text))

    account = merchant_account(koudai)
    client = client_for(koudai, account)
    img = client.merchant.common.upload_image("tee.png", PNG)
    from test_shop import product
    pid = client.merchant.create(product(img, price=3500))["product_id"]
    client.merchant.update_product_status(pid, 1)
    gid = client.merchant.group.add("新品 New", [pid])["group_id"]
    client.merchant.shelf.add("首页 Home", img, {"module_infos": [{"eid": 1, "group_info": {"group_id": gid, "filter": {"count": 4}}}]})

    alice = koudai.consumer("alice")
    browser.delete_all_cookies()
    browser.set_window_size(900, 1600)
    browser.get(f"{koudai.base_url}/mp/{account['appid']}")
    browser.find_element(By.ID, "login").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys(alice["password"])
    browser.find_element(By.ID, "sign-in").click()
    appears("orders-link")  # only on the signed-in page: the login has landed
    browser.find_element(By.ID, "shop-link").click()
    assert "首页 Home" in appears("shop-name").find_element(By.XPATH, "..").text
    appears(f"product-{pid}").click()
    assert appears("product-name").text == "Koudai Tee"
    browser.find_element(By.CSS_SELECTOR, "label[for=sku-2]").click()
    chosen = browser.find_element(By.ID, "sku-2").get_attribute("value")
    assert browser.find_element(By.ID, "sku-2").is_selected()
    count = browser.find_element(By.ID, "count")
    count.clear()
    count.send_keys("2")
    for field, value in (("name", "Alice"), ("phone", "13800138000"), ("province", "广东省"), ("city", "广州市"),
                         ("zone", "天河区"), ("address", "1 Koudai Road")):
        browser.find_element(By.ID, field).send_keys(value)
    browser.save_screenshot(str(tmp_path / "shop-product.png"))
    browser.find_element(By.ID, "buy").click()
    assert shows("notice", "支付成功")
    order_id = browser.find_element(By.ID, "order-id").text
    assert browser.find_element(By.ID, "total").text == "¥71.00", "2 × 35.00 + 1.00 postage"
    order = client.merchant.order.get(order_id)
    assert order["order_status"] == 2 and order["product_sku"] == chosen

    # The merchant ships it in the console.
    merchant = next(m for m in koudai.demo["merchants"] if m["mchid"] == account["owner_mchid"])
    log_in(koudai, browser, merchant["console"]["login"], merchant["console"]["password"])
    browser.find_element(By.CSS_SELECTOR, f"#account-{account['appid']} a.shop-link").click()
    row = appears(f"order-{order_id}")
    Select(row.find_element(By.NAME, "company")).select_by_value("003shunfeng")
    row.find_element(By.NAME, "track").send_keys("SF99887766")
    row.find_element(By.CSS_SELECTOR, ".ship-form button").click()
    assert shows("notice", "已发货")
    assert "SF99887766" in browser.find_element(By.ID, f"order-{order_id}").text
    browser.save_screenshot(str(tmp_path / "console-shop.png"))

    # The consumer confirms receipt.
    browser.delete_all_cookies()
    browser.get(f"{koudai.base_url}/mp/{account['appid']}")
    browser.find_element(By.ID, "login").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys(alice["password"])
    browser.find_element(By.ID, "sign-in").click()
    appears("orders-link").click()
    appears("orders").find_element(By.LINK_TEXT, "Koudai Tee").click()
    assert shows("delivery", "SF99887766")
    browser.find_element(By.ID, "confirm").click()
    assert shows("status", "已完成")
    browser.save_screenshot(str(tmp_path / "shop-order.png"))
    assert client.merchant.order.get(order_id)["order_status"] == 5

    # A rights case the merchant answers with a refund through APIv3.
    browser.find_element(By.ID, "reason").send_keys("wrong colour")
    browser.find_element(By.ID, "open-rights").click()
    assert shows("status", "维权中")
    code, body = owner_sdk(koudai, account).refund(out_refund_no="RIGHTS" + order_id[-10:], amount={"refund": 7100, "total": 7100, "currency": "CNY"}, out_trade_no="SHOP" + order_id)
    assert code == 200, body
    koudai.advance(120)
    wait_for(lambda: json.loads(owner_sdk(koudai, account).query_refund(out_refund_no="RIGHTS" + order_id[-10:])[1])["status"] == "SUCCESS")
    browser.find_element(By.ID, "close-rights").click()
    assert shows("status", "已关闭")
    koudai.verify()
