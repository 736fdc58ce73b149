"""The WeChat Shop API with the unmodified wechatpy 1.8.18 (`client.merchant.*`
and its seven sub-APIs, base URLs redirected as the shop notes §7.1 say):
images, categories, products with SKUs, stock, express templates, groups,
shelves, each validation answered 40097 naming the field; the e-commerce
rules gate (48001 with the reason); a third-party platform needs
`shop_builder` and permission set 5 (61007 otherwise)."""
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from wechatpy.client.api.merchant import (MerchantCategory, MerchantCommon, MerchantExpress, MerchantGroup,
                                          MerchantOrder, MerchantShelf, MerchantStock, WeChatMerchant)
from wechatpy.exceptions import WeChatClientException

from conftest import PAGE_TURNS
from test_component import component_for, consent
from test_mp import client_for

MERCHANT_APIS = (WeChatMerchant, MerchantCategory, MerchantStock, MerchantExpress, MerchantGroup, MerchantShelf,
                 MerchantOrder, MerchantCommon)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
TEE = "537074299"


@pytest.fixture(scope="module", autouse=True)
def shop_base(koudai):
    """wechatpy's merchant classes each carry their own base URL."""
    saved = [c.API_BASE_URL for c in MERCHANT_APIS]
    for c in MERCHANT_APIS:
        c.API_BASE_URL = koudai.base_url + "/"
    yield
    for c, url in zip(MERCHANT_APIS, saved):
        c.API_BASE_URL = url


def seed_ticket(koudai, comp):
    """No event URL here: take the ticket from the sandbox's answer."""
    r = koudai.sandbox("POST", f"/sandbox/v1/component/{comp.component_appid}/ticket")
    assert r.status_code == 200 and r.json()["delivered"] is None, r.text
    comp.session.set("component_verify_ticket", r.json()["ticket"])


def merchant_account(koudai, n=0):
    m = koudai.demo["merchants"][n]
    return next(a for a in koudai.demo["accounts"] if a["owner_mchid"] == m["mchid"])


def product(img, price=30, name="Koudai Tee"):
    return {
        "product_base": {"category_id": [TEE], "name": name,
                         "property": [{"id": "1075741879", "vid": "1079749967"}],
                         "sku_info": [{"id": "1075741873", "vid": ["1079742386", "1079742363"]}],
                         "main_img": img, "img": [img], "detail": [{"text": "soft <cotton>"}, {"img": img}],
                         "buy_limit": 3},
        "sku_list": [{"sku_id": "1075741873:1079742386", "price": price, "ori_price": 9000, "quantity": 10,
                      "icon_url": img, "product_code": "TEE-W"},
                     {"sku_id": "1075741873:1079742363", "price": price, "ori_price": 9000, "quantity": 5,
                      "product_code": "TEE-B"}],
        "attrext": {"isPostFree": 0, "isHasReceipt": 1, "isUnderGuaranty": 0, "isSupportReplace": 0},
        "delivery_info": {"delivery_type": 0, "express": [{"id": 10000027, "price": 100}]},
    }


TEMPLATE = {"Name": "Standard", "Assumer": 0, "Valuation": 0,
            "TopFee": [{"Type": 10000028, "Normal": {"StartStandards": 1, "StartFees": 600, "AddStandards": 1,
                                                      "AddFees": 200}, "Custom": []}]}


def test_products_categories_stock_express_groups_and_shelves(koudai):
    client = client_for(koudai, merchant_account(koudai))
    m = client.merchant
    img = m.common.upload_image("tee.png", PNG)
    assert img.startswith(koudai.base_url + "/shop/img/")
    assert requests.get(img, timeout=10).content == PNG
    top = m.category.get_sub_categories(1)
    assert {"id": "537074298", "name": "服装 Clothing"} in top
    assert m.get_subcategories(537074298)["cate_list"][0]["id"] == TEE
    assert m.category.get_sku_list(TEE)[0]["id"] == "1075741873"
    assert m.category.get_properties(TEE)[0]["property_value"][0]["id"] == "1079749967"

    created = m.create(product(img))
    assert created["errcode"] == 0 and created["errmsg"] == "success"
    pid = created["product_id"]
    assert pid.startswith("p") and len(pid) == 28
    info = m.get(pid)["product_info"]
    base = info["product_base"]
    assert base["category_id"] == [int(TEE)]
    assert base["property"] == [{"id": "品牌 Brand", "vid": "Koudai"}]
    assert "&lt;cotton&gt;" in base["detail_html"] and "detail" not in base
    assert {s["sku_id"]: s["quantity"] for s in info["sku_list"]} == {"1075741873:1079742386": 10,
                                                                     "1075741873:1079742363": 5}
    assert [p["status"] for p in m.get_by_status(0)["products_info"] if p["product_id"] == pid] == [2]
    assert m.update_product_status(pid, 1)["errcode"] == 0
    assert pid in [p["product_id"] for p in m.get_by_status(1)["products_info"]]
    assert pid not in [p["product_id"] for p in m.get_by_status(2)["products_info"]]
    # Listed once, the name is fixed; the price is not.
    with pytest.raises(WeChatClientException) as e:
        m.update(pid, product(img, name="Renamed"))
    assert e.value.errcode == 40097 and "name" in e.value.errmsg
    assert m.update(pid, product(img, price=25))["errcode"] == 0
    assert {s["price"] for s in m.get(pid)["product_info"]["sku_list"]} == {25}

    # Stock, both argument orders of wechatpy.
    assert m.stock.add(pid, 5, "1075741873:1079742363")["errcode"] == 0
    assert m.reduce_stock(pid, "1075741873:1079742386", 3)["errcode"] == 0
    stock = {s["sku_id"]: s["quantity"] for s in m.get(pid)["product_info"]["sku_list"]}
    assert stock == {"1075741873:1079742386": 7, "1075741873:1079742363": 10}
    for sku, qty in (("1075741873:1079742386", 8), ("no:such", 1)):
        with pytest.raises(WeChatClientException) as e:
            m.stock.reduce(pid, qty, sku)
        assert e.value.errcode == 40097, sku

    # Express templates: the sub-API's get_all reads `template_info`.
    tid = m.express.add(TEMPLATE)["template_id"]
    assert isinstance(tid, int)
    assert m.express.get(tid)["Id"] == tid
    assert tid in [t["Id"] for t in m.express.get_all()]
    assert tid in [t["Id"] for t in m.get_all_express()["templates_info"]]
    assert m.express.update(tid, dict(TEMPLATE, Name="Express"))["errcode"] == 0
    assert m.get_express(tid)["template_info"]["Name"] == "Express"
    templated = product(img)
    templated["delivery_info"] = {"delivery_type": 1, "template_id": tid}
    tpid = m.create(templated)["product_id"]
    assert m.get(tpid)["product_info"]["delivery_info"] == {"delivery_type": 1, "template_id": tid}
    with pytest.raises(WeChatClientException) as e:
        m.express.add(dict(TEMPLATE, Valuation=1))
    assert e.value.errcode == 40097 and "Valuation" in e.value.errmsg

    # Groups and shelves.
    gid = m.group.add("新品 New", [pid])["group_id"]
    assert m.group.get(gid) == {"group_id": gid, "group_name": "新品 New", "product_list": [pid]}
    assert m.group.update_product(gid, [{"product_id": tpid, "mod_action": 1}])["errcode"] == 0
    assert m.group.update(gid, "上新 Just in")["errcode"] == 0
    assert sorted(m.get_group(gid)["group_detail"]["product_list"]) == sorted([pid, tpid])
    assert {"group_id": gid, "group_name": "上新 Just in"} in m.group.get_all()
    shelf = {"module_infos": [{"eid": 1, "group_info": {"group_id": gid, "filter": {"count": 2}}},
                              {"eid": 2, "group_infos": {"groups": [{"group_id": gid}]}}]}
    sid = m.shelf.add("Home", img, shelf)["shelf_id"]
    got = m.shelf.get(sid)
    assert got["shelf_name"] == "Home" and got["shelf_info"]["module_infos"][0]["eid"] == 1
    assert sid in [s["shelf_id"] for s in m.shelf.get_all()]
    assert m.update_shelf(sid, {"shelf_name": "Front", "shelf_banner": img, "shelf_data": shelf})["errcode"] == 0
    assert m.get_shelf(sid)["shelf_name"] == "Front"
    for bad in ({"module_infos": [{"eid": 5, "group_infos": {"groups": [{"group_id": gid}], "img_background": img}},
                                  {"eid": 1, "group_info": {"group_id": gid}}]},
                {"module_infos": [{"eid": 1, "group_info": {"group_id": 999999}}]}):
        with pytest.raises(WeChatClientException) as e:
            m.shelf.add("Bad", img, bad)
        assert e.value.errcode == 40097
    # wechatpy's shelf.update posts to shelf/add: a new shelf, faithfully.
    assert m.shelf.update(sid, "Again", img, shelf)["shelf_id"] != sid
    assert m.shelf.delete(sid)["errcode"] == 0
    assert m.group.delete(gid)["errcode"] == 0
    assert m.express.delete(tid)["errcode"] == 0
    assert m.delete(tpid)["errcode"] == 0
    with pytest.raises(WeChatClientException) as e:
        m.get(tpid)
    assert e.value.errcode == 40097
    # wechatpy's top-level set_delivery posts to a path that does not exist.
    with pytest.raises(WeChatClientException) as e:
        m.set_delivery("1", {"delivery_company": "003shunfeng"})
    assert e.value.errcode == 40066


@pytest.mark.parametrize("path, value, words", [
    (("sku_list", 0, "price"), 9000, "below ori_price"),
    (("product_base", "main_img"), "http://elsewhere.example/x.png", "upload_img"),
    (("product_base", "category_id"), ["537074298"], "lowest level"),
    (("product_base", "property", 0, "vid"), "1", "property"),
    (("sku_list", 1, "sku_id"), "1075741873:1079742386", "twice"),
    (("sku_list", 0, "sku_id"), "1075741874:1079742401", "sku_info"),
    (("delivery_info",), {"delivery_type": 1, "template_id": 424242}, "template"),
    (("delivery_info",), None, "isPostFree"),
])
def test_each_invalid_product_is_refused_naming_the_field(koudai, path, value, words):
    client = client_for(koudai, merchant_account(koudai))
    img = client.merchant.common.upload_image("a.png", PNG)
    body = product(img)
    slot = body
    for key in path[:-1]:
        slot = slot[key]
    slot[path[-1]] = value
    with pytest.raises(WeChatClientException) as e:
        client.merchant.create(body)
    assert e.value.errcode == 40097 and words in e.value.errmsg, e.value.errmsg


def test_an_account_the_rules_do_not_grant_gets_48001_with_the_reason(koudai):
    account = merchant_account(koudai, 1)
    client = client_for(koudai, account)
    assert client.merchant.get_by_status(0)["errcode"] == 0
    opened = koudai.cli("admin", "violation-open", "--appid", account["appid"], "--reason", "fake goods")
    assert opened.returncode == 0, opened.stderr
    with pytest.raises(WeChatClientException) as e:
        client.merchant.get_by_status(0)
    assert e.value.errcode == 48001
    assert "no_open_violations (open_violations is 1, needs at most 0)" in e.value.errmsg
    r = koudai.sandbox("GET", f"/sandbox/v1/eligibility/{account['appid']}")
    shop = next(c for c in r.json()["capabilities"] if c["name"] == "shop_api")
    assert shop["granted"] is False and [u["requirement"] for u in shop["unmet"]] == ["no_open_violations"]
    import json
    closed = koudai.cli("admin", "violation-close", "--id", str(json.loads(opened.stdout)["id"]))
    assert closed.returncode == 0, closed.stderr
    assert client.merchant.get_by_status(0)["errcode"] == 0


def test_a_platform_builds_shops_only_with_shop_builder_and_set_5(koudai):
    # The official provider's sub-merchant's account: deposit paid, verified.
    sub = koudai.provider("official")["sub_merchants"][0]
    account = next(a for a in koudai.demo["accounts"] if a["appid"] == sub["sub_appid"])
    official = component_for(koudai, "official")
    seed_ticket(koudai, official)
    r = consent(koudai, official.create_preauthcode()["pre_auth_code"], account["appid"], [1, 5])
    assert r.status_code == 200, r.text
    official.query_auth(parse_qs(urlparse(r.json()["redirect"]).query)["auth_code"][0])
    client = official.get_client_by_appid(account["appid"])
    client.API_BASE_URL = koudai.base_url + "/cgi-bin/"
    img = client.merchant.common.upload_image("p.png", PNG)
    pid = client.merchant.create(product(img))["product_id"]
    assert pid.startswith("p")
    client.merchant.update_product_status(pid, 1)
    # A sale of the sub-merchant's shop (a partner payment under the
    # provider), handled by the provider through the authorizer token.
    r = koudai.sandbox("POST", "/sandbox/v1/shop/buy", json={
        "appid": account["appid"], "consumer": "bob", "product_id": pid, "sku_info": "1075741873:1079742386",
        "count": 1, "address": {"name": "Bob", "phone": "13900139000", "province": "北京市", "city": "北京市",
                                "zone": "朝阳区", "address": "2 Koudai Street"}})
    assert r.status_code == 200, r.text
    order_id = r.json()["order_id"]
    assert client.merchant.order.get(order_id)["trans_id"] == r.json()["transaction_id"]
    assert client.merchant.order.set_delivery(order_id, "Koudai Express", "KD1", is_others=1)["errcode"] == 0
    assert client.merchant.order.get(order_id)["delivery_company"] == "Koudai Express"
    code, body = koudai.provider_sdk("official").query(out_trade_no="SHOP" + order_id, sub_mchid=sub["sub_mchid"])
    assert code == 200 and '"SUCCESS"' in body, body

    partner = component_for(koudai, "third_party")
    seed_ticket(koudai, partner)
    r = consent(koudai, partner.create_preauthcode()["pre_auth_code"], account["appid"], [5])
    assert r.status_code == 403 and "shop_builder" in r.json()["message"], r.text
    r = consent(koudai, partner.create_preauthcode()["pre_auth_code"], account["appid"], [1])
    assert r.status_code == 200, r.text
    partner.query_auth(parse_qs(urlparse(r.json()["redirect"]).query)["auth_code"][0])
    client = partner.get_client_by_appid(account["appid"])
    client.API_BASE_URL = koudai.base_url + "/cgi-bin/"
    with pytest.raises(WeChatClientException) as e:
        client.merchant.get_by_status(0)
    assert e.value.errcode == 61007


def test_the_operator_previews_and_publishes_rules_and_a_merchant_reads_its_eligibility(koudai, browser, tmp_path):
    import json

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from test_console import log_in

    def shows(element_id, text):
        return WebDriverWait(browser, 15, ignored_exceptions=PAGE_TURNS).until(EC.text_to_be_present_in_element((By.ID, element_id), text))

    merchant = koudai.demo["merchants"][1]
    account = merchant_account(koudai, 1)
    opened = koudai.cli("admin", "violation-open", "--appid", account["appid"], "--reason", "late shipping")
    assert opened.returncode == 0, opened.stderr

    # The merchant sees why it has no shop.
    log_in(koudai, browser, merchant["console"]["login"], merchant["console"]["password"])
    browser.set_window_size(1280, 1400)
    browser.find_element(By.CSS_SELECTOR, f"#account-{account['appid']} a.eligibility-link").click()
    assert shows("capability-shop_api", "open_violations = 1")
    assert "needs at most 0" in browser.find_element(By.ID, "capability-shop_api").text
    browser.save_screenshot(str(tmp_path / "eligibility.png"))

    # The operator drops that requirement from the shop in version 2.
    op = koudai.demo["operator_console"]
    log_in(koudai, browser, op["login"], op["password"])
    browser.find_element(By.ID, "nav-rules").click()
    doc = json.loads(browser.find_element(By.ID, "document").get_attribute("value"))
    doc["version"] = 2
    shop = next(c for c in doc["capabilities"] if c["name"] == "shop_api")
    shop["requires"].remove("no_open_violations")
    text = json.dumps(doc, ensure_ascii=False, indent=2)
    browser.execute_script("arguments[0].value = arguments[1]", browser.find_element(By.ID, "document"), text)
    browser.find_element(By.ID, "preview").click()
    assert shows("changes", account["appid"])
    rows = browser.find_elements(By.CSS_SELECTOR, "#changes tbody tr")
    assert len(rows) == 1 and "shop_api" in rows[0].text, [r.text for r in rows]
    browser.save_screenshot(str(tmp_path / "rules-preview.png"))
    browser.find_element(By.ID, "publish").click()
    assert shows("notice", "已发布")
    assert browser.find_element(By.ID, "version").text == "2"
    assert "rule set version 2 published" in browser.find_element(By.ID, "log").text

    r = koudai.sandbox("GET", f"/sandbox/v1/eligibility/{account['appid']}")
    caps = {c["name"]: c for c in r.json()["capabilities"]}
    assert r.json()["rule_version"] == 2 and caps["shop_api"]["granted"] is True
    assert [u["requirement"] for u in caps["stores"]["unmet"]] == ["no_open_violations"]
    closed = koudai.cli("admin", "violation-close", "--id", str(json.loads(opened.stdout)["id"]))
    assert closed.returncode == 0, closed.stderr
