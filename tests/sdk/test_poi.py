"""Stores (POI) with the unmodified wechatpy 1.8.18 (`client.poi.*`,
`client.media.upload_image`): add under audit, get, list, the errcodes of
the official table (table-driven), the operator's decision through the
sandbox with `poi_check_notify` parsed by wechatpy, an update pending until
reviewed (65107 for a second), 65106 before approval, delete; accounts
without the `stores` capability get 48001."""
import io

import pytest
from wechatpy.exceptions import WeChatClientException

from conftest import PAGE_TURNS, wait_for
from test_mp import client_for
from test_mp_push import DeveloperServer

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def store(photo, **changes):
    info = {"sid": "tea-1", "business_name": "Koudai Tea", "branch_name": "Tianhe", "province": "广东省",
            "city": "广州市", "district": "天河区", "address": "1 Koudai Road", "telephone": "020-12345678",
            "categories": ["美食,茶馆,茶馆"], "offset_type": 1, "longitude": 113.32, "latitude": 23.13,
            "photo_list": [{"photo_url": photo}], "special": "wifi", "open_time": "8:00-20:00", "avg_price": 35}
    info.update(changes)
    return {"business": {"base_info": info}}


def merchant_account(koudai, n=0):
    m = koudai.demo["merchants"][n]
    return next(a for a in koudai.demo["accounts"] if a["owner_mchid"] == m["mchid"])


def photo(client):
    return client.media.upload_image(io.BytesIO(PNG))


def test_a_store_is_added_audited_updated_and_deleted(koudai):
    account = merchant_account(koudai)
    client = client_for(koudai, account)
    server = DeveloperServer(account)
    try:
        r = koudai.sandbox("POST", f"/sandbox/v1/mp/{account['appid']}/server", json={"url": server.url, "message_mode": "safe"})
        assert r.status_code == 200, r.text
        url = photo(client)
        assert url.startswith(koudai.base_url + "/shop/img/")
        assert "美食,茶馆,茶馆" in client.poi.get_categories()
        added = client.poi.add(store(url))
        poi_id = added["poi_id"]
        assert isinstance(poi_id, str) and poi_id.isdigit()
        info = client.poi.get(int(poi_id))["business"]["base_info"]
        assert info["available_state"] == 2 and info["update_status"] == 0 and info["poi_id"] == poi_id
        with pytest.raises(WeChatClientException) as e:
            client.poi.update({"business": {"base_info": {"poi_id": poi_id, "telephone": "020-1"}}})
        assert e.value.errcode == 65106
        with pytest.raises(WeChatClientException) as e:
            client.poi.delete(poi_id)
        assert e.value.errcode == 65106

        r = koudai.sandbox("POST", f"/sandbox/v1/poi/{poi_id}/audit", json={"result": "succ", "msg": "ok"})
        assert r.status_code == 200 and r.json()["available_state"] == 3, r.text
        pushed = wait_for(lambda: [m for m in server.received if getattr(m, "event", "") == "poi_check_notify"])[0]
        assert (pushed.poi_id, pushed.uniq_id, pushed.result) == (poi_id, "tea-1", "succ")

        assert client.poi.update({"business": {"base_info": {"poi_id": poi_id, "telephone": "020-87654321",
                                                            "open_time": "9:00-21:00"}}})["errcode"] == 0
        info = client.poi.get(poi_id)["business"]["base_info"]
        assert info["update_status"] == 1 and info["telephone"] == "020-87654321" and info["available_state"] == 3
        with pytest.raises(WeChatClientException) as e:
            client.poi.update({"business": {"base_info": {"poi_id": poi_id, "telephone": "020-1"}}})
        assert e.value.errcode == 65107
        with pytest.raises(WeChatClientException) as e:
            client.poi.update({"business": {"base_info": {"poi_id": poi_id, "business_name": "Renamed"}}})
        assert e.value.errcode in (65107, 40097)
        r = koudai.sandbox("POST", f"/sandbox/v1/poi/{poi_id}/audit", json={"result": "fail", "msg": "blurred photo"})
        assert r.status_code == 200, r.text
        rejected = wait_for(lambda: [m for m in server.received if getattr(m, "event", "") == "poi_check_notify"
                                     and m.result == "fail"])[0]
        assert rejected.message == "blurred photo"
        info = client.poi.get(poi_id)["business"]["base_info"]
        assert info["update_status"] == 0 and info["telephone"] == "020-12345678", "the rejected update is dropped"

        listed = client.poi.list(0, 10)
        assert listed["total_count"] >= 1 and poi_id in [b["base_info"]["poi_id"] for b in listed["business_list"]]
        assert client.poi.delete(poi_id)["errcode"] == 0
        with pytest.raises(WeChatClientException) as e:
            client.poi.get(poi_id)
        assert e.value.errcode == 65115
    finally:
        server.close()


@pytest.mark.parametrize("field, value, code", [
    ("business_name", "", 65109),
    ("address", "", 65110),
    ("telephone", "call me", 65111),
    ("city", "", 65112),
    ("province", "", 65113),
    ("photo_list", [], 65114),
    ("photo_list", [{"photo_url": "http://elsewhere.example/p.jpg"}], 65105),
    ("categories", ["美食,不存在的类目"], 65104),
    ("offset_type", 3, 40097),
])
def test_each_invalid_store_gets_its_errcode(koudai, field, value, code):
    client = client_for(koudai, merchant_account(koudai))
    with pytest.raises(WeChatClientException) as e:
        client.poi.add(store(photo(client), **{field: value}))
    assert e.value.errcode == code, e.value.errmsg


def test_a_flat_body_an_unknown_store_and_a_bad_upload(koudai):
    client = client_for(koudai, merchant_account(koudai))
    with pytest.raises(WeChatClientException) as e:
        client.poi.add(store(photo(client))["business"]["base_info"])
    assert e.value.errcode == 40097
    with pytest.raises(WeChatClientException) as e:
        client.poi.get("999")
    assert e.value.errcode == 65115
    with pytest.raises(WeChatClientException) as e:
        client.media.upload_image(io.BytesIO(b"not an image"))
    assert e.value.errcode == 40005


def test_an_account_without_the_stores_capability_gets_48001(koudai):
    account = merchant_account(koudai, 1)
    client = client_for(koudai, account)
    opened = koudai.cli("admin", "violation-open", "--appid", account["appid"], "--reason", "fake store")
    assert opened.returncode == 0, opened.stderr
    with pytest.raises(WeChatClientException) as e:
        client.poi.list()
    assert e.value.errcode == 48001 and "no_open_violations" in e.value.errmsg


def test_the_operator_reviews_stores_and_the_merchant_reads_the_reason(koudai, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from test_console import log_in

    def shows(element_id, text):
        return WebDriverWait(browser, 15, ignored_exceptions=PAGE_TURNS).until(EC.text_to_be_present_in_element((By.ID, element_id), text))

    account = merchant_account(koudai)
    client = client_for(koudai, account)
    poi_id = client.poi.add(store(photo(client), sid="tea-2", branch_name="Yuexiu"))["poi_id"]

    op = koudai.demo["operator_console"]
    log_in(koudai, browser, op["login"], op["password"])
    browser.set_window_size(1280, 1200)
    browser.find_element(By.ID, "nav-stores").click()
    row = WebDriverWait(browser, 15, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, f"store-{poi_id}")))
    assert "Yuexiu" in row.text and "审核中" in row.text
    browser.save_screenshot(str(tmp_path / "store-audit.png"))
    # A rejection needs a reason.
    row.find_element(By.CSS_SELECTOR, "button.reject").click()
    assert shows("error", "reason")
    row = browser.find_element(By.ID, f"store-{poi_id}")
    row.find_element(By.NAME, "reason").send_keys("the photo is not of the store")
    row.find_element(By.CSS_SELECTOR, "button.reject").click()
    assert shows("notice", "驳回")
    assert client.poi.get(poi_id)["business"]["base_info"]["available_state"] == 4

    merchant = koudai.demo["merchants"][0]
    log_in(koudai, browser, merchant["console"]["login"], merchant["console"]["password"])
    browser.find_element(By.CSS_SELECTOR, f"#account-{account['appid']} a.stores-link").click()
    shows(f"store-{poi_id}", "the photo is not of the store")
    assert "已驳回" in browser.find_element(By.ID, f"store-{poi_id}").text
    browser.save_screenshot(str(tmp_path / "merchant-stores.png"))
