"""Onboarding in a real headless Chromium: the operator rejects a field, the
provider sees the reason (query and console), resubmits, the operator
approves, the contact signs on sign_url, and the query shows FINISHED."""
import json
import secrets

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import PAGE_TURNS
from test_console import log_in
from test_onboarding import application, query, upload


def test_reject_resubmit_approve_and_sign_in_the_browser(koudai, browser, tmp_path):
    kind = "third_party"
    wxpay = koudai.provider_sdk(kind)
    p = koudai.provider(kind)
    seed = secrets.randbelow(10**9)
    media = {n: upload(wxpay, tmp_path, f"{n}.png", c) for n, c in
             (("license", (30, 30, 220)), ("front", (30, 220, 30)), ("back", (220, 30, 30)))}
    a = application(media, seed, shortname="浏览器小店")
    code = f"BROWSER_{seed}"
    status, text = wxpay.applyment_submit(business_code=code, **json.loads(json.dumps(a)))
    assert status == 200, text
    applyment_id = json.loads(text)["applyment_id"]

    # The operator finds it in the queue, sees masked values and the images, reveals one, rejects a field.
    op = koudai.demo["operator_console"]
    log_in(koudai, browser, op["login"], op["password"])
    browser.find_element(By.ID, "nav-applyments").click()
    queue = WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "queue")))
    queue.find_element(By.LINK_TEXT, str(applyment_id)).click()
    fields = WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "fields"))).text
    phone = a["contact_info"]["mobile_phone"]
    assert phone not in fields and phone[:3] + "****" + phone[-4:] in fields
    assert browser.find_elements(By.CSS_SELECTOR, "img.doc"), "the images are shown"
    assert browser.execute_script("return document.querySelector('img.doc').naturalWidth") > 0, "and load"
    browser.find_element(By.CSS_SELECTOR, "button[data-field='contact_info.mobile_phone']").click()
    assert WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "revealed"))).text == phone
    assert "contact_info.mobile_phone" in browser.find_element(By.ID, "reveals").text

    form = browser.find_element(By.ID, "reject-form")
    Select(form.find_element(By.NAME, "field1")).select_by_value("license_copy")
    form.find_element(By.NAME, "reason1").send_keys("营业执照照片不清晰")
    form.find_element(By.ID, "reject").click()
    WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.text_to_be_present_in_element((By.ID, "notice"), "已驳回"))
    assert "营业执照照片不清晰" in browser.find_element(By.ID, "audit-detail").text

    # The provider sees the reason in its query and its console.
    rejected = query(wxpay, business_code=code)
    assert rejected["audit_detail"][0]["reject_reason"] == "营业执照照片不清晰"
    log_in(koudai, browser, p["console"]["login"], p["console"]["password"])
    browser.find_element(By.ID, "nav-my-applyments").click()
    row = WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.CSS_SELECTOR, f"tr[data-applyment-id='{applyment_id}']")))
    assert "营业执照照片不清晰" in row.text and "已驳回" in row.text

    a["subject_info"]["business_license_info"]["license_copy"] = upload(wxpay, tmp_path, "clear.png", (0, 0, 250))
    status, text = wxpay.applyment_submit(business_code=code, **json.loads(json.dumps(a)))
    assert status == 200, text

    # The operator approves.
    log_in(koudai, browser, op["login"], op["password"])
    browser.get(f"{koudai.base_url}/console/applyments/{applyment_id}")
    browser.find_element(By.ID, "approve").click()
    WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.text_to_be_present_in_element((By.ID, "notice"), "已通过"))
    sign_url = query(wxpay, applyment_id=applyment_id)["sign_url"]

    # The contact signs: phone and one-time code, account confirmed, agreement signed.
    code_r = koudai.sandbox("GET", f"/sandbox/v1/applyments/{applyment_id}/sign-code")
    assert code_r.status_code == 200, code_r.text
    otp = code_r.json()["code"]
    browser.delete_all_cookies()
    browser.get(sign_url)
    browser.find_element(By.ID, "phone").send_keys(phone)
    browser.find_element(By.ID, "code").send_keys("000000" if otp != "000000" else "111111")
    browser.find_element(By.ID, "login-button").click()
    WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.text_to_be_present_in_element((By.ID, "error"), "验证码错误"))
    browser.find_element(By.ID, "phone").clear()
    browser.find_element(By.ID, "phone").send_keys(phone)
    browser.find_element(By.ID, "code").send_keys(otp)
    browser.find_element(By.ID, "login-button").click()
    WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "agreement")))
    assert "****" in browser.find_element(By.ID, "account").text
    browser.find_element(By.ID, "confirm").click()
    browser.find_element(By.ID, "agree").click()
    browser.find_element(By.ID, "sign-button").click()
    WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "signed")))

    koudai.advance(1801)
    finished = query(wxpay, applyment_id=applyment_id)
    assert finished["applyment_state"] == "APPLYMENT_STATE_FINISHED" and finished["sub_mchid"], finished

    # The report counts it.
    log_in(koudai, browser, op["login"], op["password"])
    browser.get(koudai.base_url + "/console/applyments/report")
    report = browser.find_element(By.ID, "report").text
    assert "third-party providers" in report and "normal" in report
