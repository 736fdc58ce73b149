"""The operator and provider consoles in a real headless Chromium."""
import re

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import PAGE_TURNS, new_out_trade_no


def log_in(koudai, browser, login, password):
    # Console cookies are scoped to /console: delete them from a page there.
    browser.get(koudai.base_url + "/console/login")
    browser.delete_all_cookies()
    browser.get(koudai.base_url + "/console")
    WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "login-form")))
    browser.find_element(By.ID, "login").send_keys(login)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "logout")))


def test_operator_creates_a_provider_grants_and_revokes_with_a_reason_and_reads_the_logs(koudai, browser):
    op = koudai.demo["operator_console"]
    # A wrong password is refused on the page.
    browser.delete_all_cookies()
    browser.get(koudai.base_url + "/console/login")
    browser.find_element(By.ID, "login").send_keys(op["login"])
    browser.find_element(By.ID, "password").send_keys("not-the-password")
    browser.find_element(By.ID, "submit").click()
    assert "账号或密码错误" in WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "error"))).text

    log_in(koudai, browser, op["login"], op["password"])
    league = browser.find_element(By.ID, "league").text
    for p in koudai.demo["providers"]:
        assert p["sp_mchid"] in league

    name = "Browser Test Provider " + new_out_trade_no()[-6:]
    browser.find_element(By.ID, "name").send_keys(name)
    Select(browser.find_element(By.ID, "kind")).select_by_value("third_party")
    browser.find_element(By.ID, "console_login").send_keys("bt-" + new_out_trade_no()[-6:].lower())
    browser.find_element(By.ID, "console_password").send_keys("browser-test-password")
    browser.find_element(By.ID, "create").click()
    sp_mchid = WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "sp-mchid"))).text
    assert re.fullmatch(r"\d{10}", sp_mchid)
    assert "BEGIN PRIVATE KEY" in browser.find_element(By.ID, "private-key").get_attribute("value")

    browser.find_element(By.ID, "to-provider").click()
    row = WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "privilege-custom_menu")))
    assert "not held" in row.text
    row.find_element(By.NAME, "reason").send_keys("menu pilot for Q1")
    row.find_element(By.CSS_SELECTOR, "button[value=grant]").click()
    WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.text_to_be_present_in_element((By.ID, "notice"), "权限已授予"))
    row = browser.find_element(By.ID, "privilege-custom_menu")
    assert "held" in row.text and "not held" not in row.text
    row.find_element(By.NAME, "reason").send_keys("pilot over")
    row.find_element(By.CSS_SELECTOR, "button[value=revoke]").click()
    # The page being left has a notice too: wait for the new one's text.
    WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.text_to_be_present_in_element((By.ID, "notice"), "权限已收回"))
    assert "not held" in browser.find_element(By.ID, "privilege-custom_menu").text

    # Both records, with who and why, on the log page filtered to this provider.
    browser.find_element(By.ID, "nav-privileges").click()
    form = WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "filters")))
    form.find_element(By.NAME, "who").send_keys(sp_mchid)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.url_contains("who=" + sp_mchid))
    rows = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#log tbody tr")]
    assert len(rows) == 2, rows
    assert "revoke" in rows[0] and "pilot over" in rows[0] and "operator:" + op["login"] in rows[0]
    assert "grant" in rows[1] and "menu pilot for Q1" in rows[1]

    # A sub-merchant for it, from its page.
    browser.get(f"{koudai.base_url}/console/providers/{sp_mchid}")
    browser.find_element(By.ID, "sub-name").send_keys("Browser Test Bakery Co., Ltd.")
    browser.find_element(By.ID, "create-sub-submit").click()
    WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.text_to_be_present_in_element((By.ID, "notice"), "特约商户已创建"))
    assert "Browser Test Bakery Co., Ltd." in browser.find_element(By.ID, "subs").text

    # Every sub-merchant, with its provider, on the operator's list.
    browser.find_element(By.ID, "nav-subs").click()
    subs = WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "subs"))).text
    assert "Browser Test Bakery Co., Ltd." in subs and sp_mchid in subs
    for p in koudai.demo["providers"]:
        assert p["sub_merchants"][0]["sub_mchid"] in subs

    # A refusal made now shows up through the refusal log's filter form.
    wxpay = koudai.provider_sdk("third_party")
    other = koudai.provider("official")["sub_merchants"][0]["sub_mchid"]
    code, _ = wxpay.query(out_trade_no="NOSUCH0001", sub_mchid=other)
    assert code == 403
    browser.find_element(By.ID, "nav-refusals").click()
    form = WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "filters")))
    form.find_element(By.NAME, "who").send_keys("merchant:" + koudai.provider("third_party")["sp_mchid"])
    form.find_element(By.NAME, "what").send_keys("query_order")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.url_contains("what=query_order"))
    rows = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#refusals tbody tr")]
    assert rows and "sub_mchid:" + other in rows[0] and "不存在受理关系" in rows[0], rows

    browser.find_element(By.ID, "logout").click()
    WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "login-form")))


def test_provider_user_sees_its_own_and_cannot_open_another_providers_sub_merchant(koudai, browser):
    official, third = koudai.provider("official"), koudai.provider("third_party")
    log_in(koudai, browser, official["console"]["login"], official["console"]["password"])
    assert browser.current_url.endswith("/console/my")
    privileges = browser.find_element(By.ID, "privileges").text
    assert "payment_interface" in privileges and "lacking" not in privileges
    subs = browser.find_element(By.ID, "subs")
    own = official["sub_merchants"][0]
    subs.find_element(By.LINK_TEXT, own["name"]).click()
    assert WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "sub-name"))).text == own["name"]
    assert browser.find_element(By.ID, "balances")

    # Another provider's sub-merchant by URL: not found, nothing of it shown.
    other = third["sub_merchants"][0]
    browser.get(f"{koudai.base_url}/console/my/sub-merchants/{other['sub_mchid']}")
    assert "特约商户不存在" in browser.page_source and other["name"] not in browser.page_source
    # Operator pages are not for provider users.
    browser.get(koudai.base_url + "/console/refusals")
    assert "无权查看" in browser.page_source

    # The third-party provider sees what it lacks.
    log_in(koudai, browser, third["console"]["login"], third["console"]["password"])
    assert "lacking" in browser.find_element(By.ID, "privilege-profit_sharing").text

    # The operator finds both attempts in the refusal log.
    op = koudai.demo["operator_console"]
    log_in(koudai, browser, op["login"], op["password"])
    browser.get(koudai.base_url + "/console/refusals?who=console%3A" + official["console"]["login"])
    text = browser.find_element(By.ID, "refusals").text
    assert "sub_mchid:" + other["sub_mchid"] in text and "operator_page" in text
