"""The discovery centre: only accounts the e-commerce rules list appear;
the ranking's parts add up; near me and search filter; one click, one
follow and one order are attributed exactly once however often pages are
reloaded, and the traffic report's totals are the sums of the orders it
attributes; in Chromium a consumer finds a shop, buys, and the operator's
report shows the order under the provider kind, and the operator features
an account (labelled, first, recorded as a version)."""
import json

import requests

from conftest import PAGE_TURNS
from test_mp import client_for
from test_shop import merchant_account, shop_base  # noqa: F401 (the fixture patches wechatpy's bases)
from test_shop_orders import buy, necklace
from test_storepay import approved_store


def directory(koudai, consumer="alice", **params):
    r = koudai.sandbox("GET", "/sandbox/v1/discovery", params={"consumer": consumer, **params})
    assert r.status_code == 200, r.text
    return r.json()


def report(koudai, day):
    r = koudai.sandbox("GET", "/sandbox/v1/discovery/report", params={"from": day, "to": day})
    assert r.status_code == 200, r.text
    return r.json()


def listing_granted(koudai, appid):
    r = koudai.sandbox("GET", f"/sandbox/v1/eligibility/{appid}")
    assert r.status_code == 200, r.text
    return next(c for c in r.json()["capabilities"] if c["name"] == "discovery_listing")["granted"]


def test_only_accounts_the_rules_list_appear_ranked_by_their_parts(koudai):
    d = directory(koudai)
    listed = {e["appid"] for e in d["entries"]}
    granted = {a["appid"] for a in koudai.demo["accounts"] if listing_granted(koudai, a["appid"])}
    assert listed == granted and listed and len(granted) < len(koudai.demo["accounts"])
    for e in d["entries"]:
        parts = e["score_parts"]
        assert abs(e["score"] - (parts["sales"] + parts["rating"] + parts["freshness"])) < 0.005
        assert e["click_url"].startswith(koudai.base_url + "/discover/go/")
    unfeatured = [e["score"] for e in d["entries"] if not e["featured"]]
    assert unfeatured == sorted(unfeatured, reverse=True)

    # A violation takes the account out; closing it brings it back.
    victim = merchant_account(koudai, 1)["appid"]
    assert victim in listed
    opened = koudai.cli("admin", "violation-open", "--appid", victim, "--reason", "counterfeit goods")
    assert opened.returncode == 0, opened.stderr
    assert victim not in {e["appid"] for e in directory(koudai)["entries"]}
    violation = json.loads(opened.stdout)["id"]
    closed = koudai.cli("admin", "violation-close", "--id", str(violation))
    assert closed.returncode == 0, closed.stderr
    assert victim in {e["appid"] for e in directory(koudai)["entries"]}

    r = koudai.sandbox("GET", "/sandbox/v1/discovery", params={"consumer": "nobody"})
    assert r.status_code == 400 and r.json()["code"] == "PARAM_ERROR"
    r = koudai.sandbox("GET", "/sandbox/v1/discovery", params={"consumer": "alice", "lat": "95", "lng": "1"})
    assert r.status_code == 400 and r.json()["code"] == "PARAM_ERROR"
    assert requests.get(koudai.base_url + "/sandbox/v1/discovery", params={"consumer": "alice"}, timeout=10).status_code == 401


def test_near_me_and_search(koudai):
    account = merchant_account(koudai)
    approved_store(koudai, account, sid="near-1", latitude=23.1291, longitude=113.2644)
    near = directory(koudai, lat="23.13", lng="113.27")
    mine = next(e for e in near["entries"] if e["appid"] == account["appid"])
    assert mine["distance_km"] < 1.0
    assert "美食" in mine["categories"] and "美食" in near["categories"]
    far = directory(koudai, lat="39.90", lng="116.40")  # Beijing
    assert account["appid"] not in {e["appid"] for e in far["entries"]}
    by_category = directory(koudai, category="美食")
    assert account["appid"] in {e["appid"] for e in by_category["entries"]}
    assert all("美食" in e["categories"] for e in by_category["entries"])
    by_name = directory(koudai, q=account["name"][:6].lower())
    assert account["appid"] in {e["appid"] for e in by_name["entries"]}
    assert directory(koudai, q="no such shop anywhere")["entries"] == []


def test_one_click_one_follow_one_order_counted_once(koudai):
    account = merchant_account(koudai)
    appid = account["appid"]
    client = client_for(koudai, account)
    pid = necklace(client, 5, price=2500)
    day = koudai.business_date()
    before = report(koudai, day)["totals"]

    entry = next(e for e in directory(koudai, "bob")["entries"] if e["appid"] == appid)
    for _ in range(3):  # the link followed again, as a reload would
        r = requests.get(entry["click_url"], allow_redirects=False, timeout=10)
        assert r.status_code == 303 and r.headers["location"] == f"/mp/{appid}"
    tampered = entry["click_url"][:-1] + ("0" if entry["click_url"][-1] != "0" else "1")
    assert requests.get(tampered, allow_redirects=False, timeout=10).status_code == 404

    # The follow: bob scans the account's code (he does not follow it yet).
    ticket = client.qrcode.create({"action_name": "QR_LIMIT_STR_SCENE",
                                   "action_info": {"scene": {"scene_str": "discovery"}}})["ticket"]
    r = koudai.sandbox("POST", "/sandbox/v1/qrcode/scan", json={"ticket": ticket, "consumer": "bob"})
    assert r.status_code == 200 and r.json()["event"] == "subscribe", r.text
    r = koudai.sandbox("POST", "/sandbox/v1/qrcode/scan", json={"ticket": ticket, "consumer": "bob"})
    assert r.json()["event"] == "SCAN"

    # The order, and a second directory view that is not clicked.
    r = buy(koudai, account, pid, consumer="bob")
    assert r.status_code == 200, r.text
    order_id = r.json()["order_id"]
    directory(koudai, "bob")

    if koudai.business_date() != day:
        return  # the business day ended during the test: the counts span two days
    after = report(koudai, day)
    t = after["totals"]
    assert t["clicks"] - before["clicks"] == 1
    assert t["follows"] - before["follows"] == 1
    assert t["orders"] - before["orders"] == 1
    assert t["gmv"] - before["gmv"] == 2500
    assert t["impressions"] - before["impressions"] >= 2 * 1
    attributed = [o for o in after["orders"] if o["reference"] == f"shop:{order_id}"]
    assert len(attributed) == 1 and attributed[0]["amount"] == 2500 and attributed[0]["appid"] == appid
    # The totals are the sums of the orders the report attributes.
    assert t["orders"] == len(after["orders"]) and t["gmv"] == sum(o["amount"] for o in after["orders"])
    assert t["gmv"] == sum(k["gmv"] for k in after["by_kind"]) == sum(p["gmv"] for p in after["by_provider"])

    # A consumer who never clicked: a purchase is not attributed.
    r = buy(koudai, account, pid, consumer="alice")
    assert r.status_code == 200, r.text
    assert report(koudai, day)["totals"]["orders"] == t["orders"]
    # A store payment after a click is an order of the click too.
    poi_id = approved_store(koudai, account, sid="click-store")
    entry = next(e for e in directory(koudai, "alice")["entries"] if e["appid"] == appid)
    assert requests.get(entry["click_url"], allow_redirects=False, timeout=10).status_code == 303
    r = koudai.sandbox("POST", "/sandbox/v1/storepay", json={"poi_id": poi_id, "consumer": "alice", "amount": 700})
    assert r.status_code == 200, r.text
    final = report(koudai, day)
    assert final["totals"]["orders"] == t["orders"] + 1 and final["totals"]["gmv"] == t["gmv"] + 700
    assert final["totals"]["gmv"] == sum(o["amount"] for o in final["orders"])
    koudai.verify()


def test_a_consumer_finds_a_shop_buys_and_the_operator_sees_it(koudai, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from test_console import log_in

    def appears(element_id):
        return WebDriverWait(browser, 15, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, element_id)))

    def shows(element_id, text):
        return WebDriverWait(browser, 15, ignored_exceptions=PAGE_TURNS).until(EC.text_to_be_present_in_element((By.ID, element_id), text))

    koudai.clear_of_midnight(600)
    day = koudai.business_date()
    # The sub-merchant of the official provider sells a necklace.
    sub = koudai.provider("official")["sub_merchants"][0]
    account = next(a for a in koudai.demo["accounts"] if a["owner_mchid"] == sub["sub_mchid"])
    client = client_for(koudai, account)
    pid = necklace(client, 3, price=4200)

    # The operator features it (a reason is required; a version is recorded).
    op = koudai.demo["operator_console"]
    log_in(koudai, browser, op["login"], op["password"])
    browser.set_window_size(1280, 1400)
    browser.find_element(By.ID, "nav-discovery").click()
    version = int(appears("version").text)
    Select(browser.find_element(By.ID, "feature-appid")).select_by_value(account["appid"])
    browser.find_element(By.ID, "feature-note").send_keys("Winter picks")
    browser.find_element(By.ID, "feature-reason").send_keys("seasonal campaign")
    browser.find_element(By.ID, "feature").click()
    assert shows("notice", "Published")
    assert int(appears("version").text) == version + 1
    assert "seasonal campaign" in browser.find_element(By.ID, "versions").text
    browser.save_screenshot(str(tmp_path / "discovery-console.png"))
    d = directory(koudai)
    assert d["version"] == version + 1
    assert (d["entries"][0]["appid"], d["entries"][0]["featured"], d["entries"][0]["slot"]) == (account["appid"], True, 1)

    # The consumer signs in on the directory, searches, opens the shop and buys.
    alice = koudai.consumer("alice")
    browser.delete_all_cookies()
    browser.set_window_size(600, 1400)
    browser.get(koudai.base_url + "/discover")
    assert shows(f"featured-{account['appid']}", "Featured")
    appears("login").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys(alice["password"])
    browser.find_element(By.ID, "sign-in").click()
    assert shows("signed-in", "alice")
    browser.find_element(By.ID, "q").send_keys("necklace")
    browser.find_element(By.ID, "search").click()
    appears(f"entry-{account['appid']}")
    browser.save_screenshot(str(tmp_path / "discovery-directory.png"))
    browser.find_element(By.ID, f"go-{account['appid']}").click()
    appears("shop-link").click()
    appears(f"product-{pid}").click()
    assert shows("product-name", "Silver necklace")
    for field, value in (("name", "Alice"), ("phone", "13800138000"), ("province", "广东省"), ("city", "广州市"),
                         ("address", "1 Koudai Road")):
        browser.find_element(By.ID, field).send_keys(value)
    browser.find_element(By.ID, "buy").click()
    appears("status")
    browser.back()  # a reload of pages already seen counts nothing more
    browser.refresh()

    # The operator's report shows the order under the official kind.
    if koudai.business_date() != day:
        return
    log_in(koudai, browser, op["login"], op["password"])
    browser.set_window_size(1280, 1600)
    browser.get(f"{koudai.base_url}/console/discovery/report?from={day}&to={day}")
    kinds = {r.find_element(By.CSS_SELECTOR, "td").text: r for r in browser.find_elements(By.CSS_SELECTOR, "#by-kind tr.kind")}
    official = next(row for k, row in kinds.items() if k.startswith("official"))
    assert int(official.find_element(By.CSS_SELECTOR, ".orders").text) >= 1
    assert appears("chart").tag_name == "svg"
    json_report = report(koudai, day)
    assert browser.find_element(By.ID, "total-orders").text == str(json_report["totals"]["orders"])
    kind = next(k for k in json_report["by_kind"] if k["provider_kind"] == "official")
    assert kind["orders"] >= 1 and kind["gmv"] >= 4200
    assert any(o["appid"] == account["appid"] and o["amount"] == 4200 for o in json_report["orders"])
    browser.save_screenshot(str(tmp_path / "discovery-report.png"))
    # The CSV export: one line per day and account, the same GMV.
    session = requests.Session()
    for c in browser.get_cookies():
        session.cookies.set(c["name"], c["value"])
    csv = session.get(f"{koudai.base_url}/console/discovery/report.csv?from={day}&to={day}", timeout=10)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    rows = csv.text.strip().splitlines()
    assert rows[0].startswith("day,appid,account,provider,provider_kind")
    gmv = sum(round(float(r.rsplit(",", 1)[1]) * 100) for r in rows[1:])
    assert gmv == json_report["totals"]["gmv"]
    koudai.verify()


def test_a_long_directory_is_paged_on_a_phone(koudai, browser, tmp_path):
    """Last in this module: it lists enough accounts for a second page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    merchant = koudai.demo["merchants"][0]["mchid"]
    for i in range(21):
        app = koudai.cli("admin", "app-create", "--name", f"Page shop {i}", "--mchid", merchant)
        assert app.returncode == 0, app.stderr
        appid = json.loads(app.stdout)["appid"]
        for args in (("mp-account-create", "--appid", appid, "--mchid", merchant, "--name", f"Page shop {i}"),
                     ("mp-verify", "--appid", appid)):
            done = koudai.cli("admin", *args)
            assert done.returncode == 0, done.stderr
    first = directory(koudai)
    assert (first["page"], len(first["entries"])) == (1, 20) and first["pages"] >= 2
    second = directory(koudai, page="2")
    assert second["entries"][0]["position"] == 21
    assert not {e["appid"] for e in first["entries"]} & {e["appid"] for e in second["entries"]}
    r = koudai.sandbox("GET", "/sandbox/v1/discovery", params={"consumer": "alice", "page": "x"})
    assert r.status_code == 400 and r.json()["code"] == "PARAM_ERROR"

    browser.delete_all_cookies()
    browser.set_window_size(390, 844)
    browser.get(koudai.base_url + "/discover")
    wait = WebDriverWait(browser, 15, ignored_exceptions=PAGE_TURNS)
    assert "Page 1 of" in wait.until(EC.presence_of_element_located((By.ID, "page-of"))).text
    assert not browser.find_elements(By.ID, "prev-page")
    nxt = browser.find_element(By.ID, "next-page")
    assert nxt.size["height"] >= 44, "a thumb can hit it"
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", nxt)
    browser.save_screenshot(str(tmp_path / "discovery-page-1.png"))
    nxt.click()
    assert wait.until(EC.text_to_be_present_in_element((By.ID, "page-of"), "Page 2 of"))
    assert browser.find_element(By.ID, "prev-page").get_attribute("href").endswith("/discover")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#entries .entry")) == len(second["entries"])
    browser.execute_script("document.getElementById('pager').scrollIntoView({block: 'center'})")
    browser.save_screenshot(str(tmp_path / "discovery-page-2.png"))
