"""The third-party platform with the unmodified wechatpy 1.8.18
`WeChatComponent` and `ComponentOAuth` (protocol notes wechat-mp.md §6):
verify tickets pushed to a platform server built on the SDK's own
`parse_message`, component token, pre-auth code, the account owner's consent
(through the sandbox API), the `authorized` push (the SDK queries the
authorisation while handling it), query_auth, refresh, the authorised
account's menu set with the authorizer token, and everything a provider's
privileges do not allow refused."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from wechatpy.component import ComponentOAuth, WeChatComponent
from wechatpy.exceptions import WeChatClientException
from wechatpy.utils import check_signature

from conftest import PAGE_TURNS, wait_for

MENU = {"button": [{"type": "click", "name": "代运营", "key": "BY_PROVIDER"}]}


def component_for(koudai, kind):
    """A WeChatComponent for a demo provider's platform, aimed at Koudai."""
    c = koudai.provider(kind)["component"]
    base = koudai.base_url

    class Component(WeChatComponent):
        API_BASE_URL = base + "/cgi-bin"
        PRE_AUTH_URL = base + "/cgi-bin/componentloginpage"

    return Component(c["component_appid"], c["component_appsecret"], c["token"], c["encoding_aes_key"])


class PlatformServer:
    """A third party's authorisation event URL, as a wechatpy developer
    writes it: every push goes through `WeChatComponent.parse_message`."""

    def __init__(self, component, token):
        self.component = component
        self.messages = []
        self.errors = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _query(self):
                return {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}

            def do_GET(self):
                q = self._query()
                check_signature(token, q["signature"], q["timestamp"], q["nonce"])
                self.send_response(200)
                self.end_headers()
                self.wfile.write(q["echostr"].encode())

            def do_POST(self):
                q = self._query()
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    assert q["encrypt_type"] == "aes"
                    check_signature(token, q["signature"], q["timestamp"], q["nonce"])
                    msg = outer.component.parse_message(body, q["msg_signature"], q["timestamp"], q["nonce"])
                    outer.messages.append(msg)
                except Exception as e:  # the test reads these
                    outer.errors.append(repr(e))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"success")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/auth-events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of_type(self, t):
        return [m for m in self.messages if m.type == t]

    def close(self):
        self.server.shutdown()


@pytest.fixture(scope="module")
def platforms(koudai):
    """Both demo providers' platforms, each with its event server set."""
    out = {}
    for kind in ("official", "third_party"):
        comp = component_for(koudai, kind)
        server = PlatformServer(comp, koudai.provider(kind)["component"]["token"])
        r = koudai.sandbox("POST", f"/sandbox/v1/component/{comp.component_appid}/event-url", json={"url": server.url})
        assert r.status_code == 200, r.text
        out[kind] = (comp, server)
    yield out
    for _, server in out.values():
        server.close()


def push_ticket(koudai, comp):
    r = koudai.sandbox("POST", f"/sandbox/v1/component/{comp.component_appid}/ticket")
    assert r.status_code == 200, r.text
    assert r.json()["delivered"] is True, r.text
    return r.json()["ticket"]


def consent(koudai, pre_auth_code, appid, func_ids, **extra):
    return koudai.sandbox("POST", "/sandbox/v1/component/authorize",
                          json={"pre_auth_code": pre_auth_code, "authorizer_appid": appid, "func_ids": func_ids,
                                "redirect_uri": "http://127.0.0.1:9/authorized?from=test", **extra})


def accounts(koudai):
    """Accounts no other test module changes the menu of."""
    return koudai.demo["accounts"][-2:]


def test_ticket_token_consent_query_and_the_authorised_menu(koudai, platforms):
    comp, server = platforms["official"]
    # No ticket yet: wechatpy posts a null ticket and gets 61006.
    fresh = component_for(koudai, "official")
    with pytest.raises(WeChatClientException) as e:
        fresh.fetch_access_token()
    assert e.value.errcode == 61006
    ticket = push_ticket(koudai, comp)
    assert ticket.startswith("ticket@@@")
    # The jobs push one too as soon as the event URL is set; either may
    # arrive last, and any unexpired ticket buys a token.
    assert ticket in [m.verify_ticket for m in server.of_type("component_verify_ticket")]
    assert comp.component_verify_ticket.startswith("ticket@@@"), "parse_message stored a pushed ticket"
    assert len(comp.access_token) > 20

    pre = comp.create_preauthcode()
    assert pre["pre_auth_code"].startswith("preauthcode@@@") and pre["expires_in"] > 0
    account = accounts(koudai)[0]
    r = consent(koudai, pre["pre_auth_code"], account["appid"], [1, 3, 15])
    assert r.status_code == 200, r.text
    redirect = urlparse(r.json()["redirect"])
    q = parse_qs(redirect.query)
    assert redirect.path == "/authorized" and q["from"] == ["test"] and q["expires_in"] == ["600"]
    auth_code = q["auth_code"][0]
    # The same code is pushed; wechatpy queries the authorisation while it
    # handles the push.
    pushed = wait_for(lambda: server.of_type("authorized"))[-1]
    assert pushed.authorizer_appid == account["appid"] and pushed.authorization_code == auth_code
    assert comp.session.get(account["appid"] + "_refresh_token"), server.errors
    # A pre-auth code is used once.
    again = consent(koudai, pre["pre_auth_code"], account["appid"], [1])
    assert again.status_code == 400 and "used" in again.json()["message"], again.text

    info = comp.query_auth(auth_code)["authorization_info"]
    assert info["authorizer_appid"] == account["appid"]
    assert [f["funcscope_category"]["id"] for f in info["func_info"]] == [1, 3, 15]
    assert info["authorizer_refresh_token"].startswith("refreshtoken@@@")

    client = comp.get_client_by_appid(account["appid"])
    client.API_BASE_URL = koudai.base_url + "/cgi-bin/"
    assert client.menu.create(MENU)["errcode"] == 0
    assert client.menu.get()["menu"]["button"][0]["key"] == "BY_PROVIDER"
    # The account's own developer sees the menu the provider set.
    own = requests.get(koudai.base_url + "/cgi-bin/token", timeout=10, params={
        "grant_type": "client_credential", "appid": account["appid"], "secret": account["secret"]}).json()
    mine = requests.get(koudai.base_url + "/cgi-bin/menu/get", params={"access_token": own["access_token"]},
                        timeout=10).json()
    assert mine["menu"]["button"][0]["key"] == "BY_PROVIDER"

    refreshed = comp.refresh_authorizer_token(account["appid"], info["authorizer_refresh_token"])
    assert refreshed["authorizer_access_token"] != info["authorizer_access_token"]
    assert refreshed["authorizer_refresh_token"] == info["authorizer_refresh_token"]
    with pytest.raises(WeChatClientException) as e:
        comp.refresh_authorizer_token(account["appid"], "refreshtoken@@@not-ours")
    assert e.value.errcode == 61023

    details = comp.get_authorizer_info(account["appid"])
    assert details["authorizer_info"]["user_name"] == account["original_id"]
    assert details["authorizer_info"]["nick_name"] == account["name"]
    listed = comp.get_authorizer_list()
    assert listed["total_count"] >= 1 and account["appid"] in [a["authorizer_appid"] for a in listed["list"]]
    assert comp.set_authorizer_option(account["appid"], "voice_recognize", "1")["errcode"] == 0
    assert comp.get_authorizer_option(account["appid"], "voice_recognize")["option_value"] == "1"
    with pytest.raises(WeChatClientException) as e:
        comp.get_authorizer_option(account["appid"], "no_such_option")
    assert e.value.errcode == 61019

    # A component token is not an account's token.
    r = requests.get(koudai.base_url + "/cgi-bin/menu/get", params={"access_token": comp.access_token}, timeout=10)
    assert r.status_code == 200 and r.json()["errcode"] == 48001


def test_a_provider_without_custom_menu_cannot_be_granted_set_15(koudai, platforms):
    comp, server = platforms["third_party"]
    push_ticket(koudai, comp)
    account = accounts(koudai)[0]
    r = consent(koudai, comp.create_preauthcode()["pre_auth_code"], account["appid"], [1, 15])
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["code"] == "NO_AUTH" and "custom_menu" in body["message"]
    assert [x["id"] for x in body["detail"]["refused"]] == [15]
    # What it may hold, it gets; menus stay out of reach (61007).
    r = consent(koudai, comp.create_preauthcode()["pre_auth_code"], account["appid"], [1])
    assert r.status_code == 200, r.text
    auth_code = parse_qs(urlparse(r.json()["redirect"]).query)["auth_code"][0]
    info = comp.query_auth(auth_code)["authorization_info"]
    assert [f["funcscope_category"]["id"] for f in info["func_info"]] == [1]
    client = comp.get_client_by_appid(account["appid"])
    client.API_BASE_URL = koudai.base_url + "/cgi-bin/"
    with pytest.raises(WeChatClientException) as e:
        client.menu.create(MENU)
    assert e.value.errcode == 61007
    with pytest.raises(WeChatClientException) as e:
        client.menu.get()
    assert e.value.errcode == 61007
    # get_current_selfmenu_info accepts set 1.
    assert client.menu.get_menu_info()["is_menu_open"] in (0, 1)


def test_exclusive_web_service_set_moves_only_with_confirmation_and_component_oauth(koudai, platforms):
    official, official_server = platforms["official"]
    partner, partner_server = platforms["third_party"]
    push_ticket(koudai, official)
    push_ticket(koudai, partner)
    account = accounts(koudai)[1]
    r = consent(koudai, official.create_preauthcode()["pre_auth_code"], account["appid"], [1, 4])
    assert r.status_code == 200, r.text
    code = partner.create_preauthcode()["pre_auth_code"]
    r = consent(koudai, code, account["appid"], [4])
    assert r.status_code == 403, r.text
    assert "exclusive" in r.json()["message"] and official.component_appid in r.json()["message"]
    r = consent(koudai, code, account["appid"], [4], take_exclusive=True)
    assert r.status_code == 200, r.text
    # The official platform learns it lost set 4 (it keeps set 1).
    update = wait_for(lambda: [m for m in official_server.of_type("updateauthorized")
                               if m.authorizer_appid == account["appid"]])[-1]
    assert update.authorizer_appid == account["appid"]
    assert [f["funcscope_category"]["id"]
            for f in official.query_auth(update.authorization_code)["authorization_info"]["func_info"]] == [1]

    # Web OAuth on the account's behalf, with set 4.
    oauth = partner.get_component_oauth(account["appid"])
    assert isinstance(oauth, ComponentOAuth)
    oauth.API_BASE_URL = koudai.base_url + "/"
    oauth.OAUTH_BASE_URL = koudai.base_url + "/connect/"
    assert oauth.get_authorize_url("http://127.0.0.1:9/cb").startswith(koudai.base_url + "/connect/oauth2/authorize?")
    r = koudai.sandbox("POST", "/sandbox/v1/oauth/authorize", json={
        "appid": account["appid"], "consumer": "alice", "scope": "snsapi_userinfo",
        "redirect_uri": "http://127.0.0.1:9/cb", "state": "c1", "component_appid": partner.component_appid})
    assert r.status_code == 200, r.text
    q = parse_qs(urlparse(r.json()["redirect"]).query)
    assert q["appid"] == [account["appid"]] and q["state"] == ["c1"]
    res = oauth.fetch_access_token(q["code"][0])
    assert res["scope"] == "snsapi_userinfo" and res["openid"].startswith("o")
    assert oauth.get_user_info()["nickname"] == "alice"
    assert oauth.refresh_access_token(res["refresh_token"])["openid"] == res["openid"]
    # The platform that lost set 4 may no longer ask.
    r = koudai.sandbox("POST", "/sandbox/v1/oauth/authorize", json={
        "appid": account["appid"], "consumer": "alice", "scope": "snsapi_base",
        "redirect_uri": "http://127.0.0.1:9/cb", "component_appid": official.component_appid})
    assert r.status_code == 400 and "set 4" in r.json()["message"], r.text


def test_tickets_come_every_ten_minutes_of_business_time(koudai, platforms):
    comp, server = platforms["official"]
    before = len(server.of_type("component_verify_ticket"))
    koudai.advance(601)
    wait_for(lambda: len(server.of_type("component_verify_ticket")) > before, timeout=20)
    tickets = [m.verify_ticket for m in server.of_type("component_verify_ticket")]
    assert len(set(tickets)) == len(tickets), "successive tickets differ"
    # Forced through the API too (the body names the component and secret).
    c = koudai.provider("official")["component"]
    r = requests.post(koudai.base_url + "/cgi-bin/component/api_start_push_ticket", timeout=10,
                      json={"component_appid": c["component_appid"], "component_secret": c["component_appsecret"]})
    assert r.json() == {"errcode": 0, "errmsg": "ok"}
    wait_for(lambda: len(server.of_type("component_verify_ticket")) > len(tickets))
    r = requests.post(koudai.base_url + "/cgi-bin/component/api_start_push_ticket", timeout=10,
                      json={"component_appid": c["component_appid"], "component_secret": "wrong"})
    assert r.json()["errcode"] == 40125
    assert not server.errors, server.errors


class Landing:
    """The third party's redirect_uri: a page that says it was reached."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(b"<html><body><h1 id='landed'>authorised</h1></body></html>")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/landed"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_the_authorisation_page_in_a_browser(koudai, platforms, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait


    def appears(element_id):
        return WebDriverWait(browser, 15, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, element_id)))

    def shows(element_id, text):
        # The page being left may have the same element: wait for the text.
        return WebDriverWait(browser, 15, ignored_exceptions=PAGE_TURNS).until(EC.text_to_be_present_in_element((By.ID, element_id), text))

    official, official_server = platforms["official"]
    partner, _ = platforms["third_party"]
    landing = Landing()
    try:
        # The partner's page: sets behind privileges it lacks are disabled, with why.
        push_ticket(koudai, partner)
        browser.set_window_size(800, 1900)
        browser.get(partner.get_pre_auth_url(landing.url))
        assert "Third Party Partner" in browser.find_element(By.TAG_NAME, "h1").text
        assert browser.find_element(By.ID, "func-15").get_attribute("disabled") is not None
        assert "custom_menu" in browser.find_element(By.ID, "sets").text
        assert browser.find_element(By.ID, "func-1").is_selected()
        browser.save_screenshot(str(tmp_path / "component-authorize-partner.png"))

        # The official platform asks for every set; set 4 of this account is
        # the partner's (the exclusive test moved it there).
        push_ticket(koudai, official)
        account = accounts(koudai)[1]
        browser.get(official.get_pre_auth_url(landing.url))
        browser.find_element(By.ID, "appid").send_keys(account["appid"])
        browser.find_element(By.ID, "secret").send_keys("wrong")
        browser.find_element(By.ID, "authorize").click()
        assert shows("error", "AppSecret")
        browser.find_element(By.ID, "secret").send_keys(account["secret"])
        browser.find_element(By.ID, "authorize").click()
        refusals = appears("refusals").text
        assert "exclusive" in refusals and partner.component_appid in refusals
        browser.save_screenshot(str(tmp_path / "component-authorize-exclusive.png"))
        browser.find_element(By.ID, "secret").send_keys(account["secret"])
        browser.find_element(By.ID, "take-exclusive").click()
        browser.find_element(By.ID, "authorize").click()
        assert appears("landed").text == "authorised"
        q = parse_qs(urlparse(browser.current_url).query)
        assert q["expires_in"] == ["600"]
        info = official.query_auth(q["auth_code"][0])["authorization_info"]
        assert 4 in [f["funcscope_category"]["id"] for f in info["func_info"]]
        wait_for(lambda: [m for m in official_server.of_type("updateauthorized") if m.authorization_code == q["auth_code"][0]])
    finally:
        landing.server.shutdown()


def test_the_consoles_show_the_platform_the_accounts_and_the_rule(koudai, platforms, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from test_console import log_in

    def appears(element_id):
        return WebDriverWait(browser, 15, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, element_id)))

    def shows(element_id, text):
        # The page being left may have the same element: wait for the text.
        return WebDriverWait(browser, 15, ignored_exceptions=PAGE_TURNS).until(EC.text_to_be_present_in_element((By.ID, element_id), text))

    official = koudai.provider("official")
    comp, _ = platforms["official"]
    log_in(koudai, browser, official["console"]["login"], official["console"]["password"])
    browser.set_window_size(1280, 1800)
    browser.find_element(By.ID, "nav-my-platform").click()
    assert appears("component-appid").text == comp.component_appid
    assert accounts(koudai)[0]["appid"] in browser.find_element(By.ID, "authorizations").text
    assert "grantable" in browser.find_element(By.ID, "set-15").text

    # A new event URL is verified with the platform's Token first.
    moved = PlatformServer(comp, official["component"]["token"])
    wrong_token = PlatformServer(None, "not-the-token")
    try:
        field = browser.find_element(By.ID, "event-url")
        field.clear()
        field.send_keys(wrong_token.url)
        browser.find_element(By.CSS_SELECTOR, "#event-url-form button").click()
        assert shows("error", "verification failed")
        field = browser.find_element(By.ID, "event-url")
        field.clear()
        field.send_keys(moved.url)
        browser.find_element(By.CSS_SELECTOR, "#event-url-form button").click()
        assert shows("notice", "校验")
        push_ticket(koudai, comp)
        assert moved.of_type("component_verify_ticket")

        # The provider's own service account: its server, verified with the account's Token.
        mine = next(a for a in koudai.demo["accounts"] if a["appid"] == official["sp_appid"])
        server = PlatformServer(None, mine["token"])
        row = browser.find_element(By.ID, "account-" + mine["appid"])
        url = row.find_element(By.NAME, "url")
        url.clear()
        url.send_keys(server.url)
        Select(row.find_element(By.NAME, "message_mode")).select_by_value("safe")
        row.find_element(By.CSS_SELECTOR, "form button").click()
        assert shows("notice", "立即生效")
        row = browser.find_element(By.ID, "account-" + mine["appid"])
        assert row.find_element(By.NAME, "url").get_attribute("value") == server.url
        assert Select(row.find_element(By.NAME, "message_mode")).first_selected_option.text == "safe"
        browser.save_screenshot(str(tmp_path / "console-platform.png"))
        server.close()
    finally:
        # Later tests push to the module's server again.
        r = koudai.sandbox("POST", f"/sandbox/v1/component/{comp.component_appid}/event-url",
                           json={"url": platforms["official"][1].url})
        assert r.status_code == 200, r.text
        moved.close()
        wrong_token.close()

    op = koudai.demo["operator_console"]
    log_in(koudai, browser, op["login"], op["password"])
    browser.find_element(By.ID, "nav-permission-sets").click()
    row = appears("set-15").text
    assert "custom_menu" in row and "Koudai Official Services" in row and "Third Party" not in row
    assert "payment_interface" in browser.find_element(By.ID, "set-4").text
    assert "menu/create" in browser.find_element(By.ID, "apis").text
    browser.save_screenshot(str(tmp_path / "console-permission-sets.png"))


def test_a_merchant_manages_its_account_and_revokes_a_platform_in_its_console(koudai, platforms, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from test_console import log_in

    def appears(element_id):
        return WebDriverWait(browser, 15, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, element_id)))

    def shows(element_id, text):
        # The page being left may have the same element: wait for the text.
        return WebDriverWait(browser, 15, ignored_exceptions=PAGE_TURNS).until(EC.text_to_be_present_in_element((By.ID, element_id), text))

    comp, server = platforms["official"]
    push_ticket(koudai, comp)
    merchant = koudai.demo["merchants"][0]
    account = next(a for a in koudai.demo["accounts"] if a["owner_mchid"] == merchant["mchid"])
    r = consent(koudai, comp.create_preauthcode()["pre_auth_code"], account["appid"], [1, 15])
    assert r.status_code == 200, r.text
    auth_code = parse_qs(urlparse(r.json()["redirect"]).query)["auth_code"][0]
    refresh = comp.query_auth(auth_code)["authorization_info"]["authorizer_refresh_token"]

    log_in(koudai, browser, merchant["console"]["login"], merchant["console"]["password"])
    browser.set_window_size(1280, 1400)
    assert appears("merchant-name").text == merchant["name"]
    section = browser.find_element(By.ID, "account-" + account["appid"])
    grant = section.find_element(By.ID, "grant-" + comp.component_appid)
    assert "Koudai Official Services" in grant.text and "1, 15" in grant.text
    # The allow-list is the merchant's to set.
    ips = section.find_element(By.CSS_SELECTOR, ".allowlist-form input[name=ips]")
    ips.clear()
    ips.send_keys("not-an-ip")
    section.find_element(By.CSS_SELECTOR, ".allowlist-form button").click()
    assert shows("error", "not an IP address")
    browser.save_screenshot(str(tmp_path / "console-merchant.png"))

    section = browser.find_element(By.ID, "account-" + account["appid"])
    section.find_element(By.ID, "grant-" + comp.component_appid).find_element(By.CSS_SELECTOR, "button.revoke").click()
    assert shows("notice", "unauthorized")
    gone = wait_for(lambda: [m for m in server.of_type("unauthorized") if m.authorizer_appid == account["appid"]])
    assert gone
    with pytest.raises(WeChatClientException) as e:
        comp.refresh_authorizer_token(account["appid"], refresh)
    assert e.value.errcode == 61023
    # A merchant user is not an operator or a provider.
    for page in ("/console/providers", "/console/my/platform", "/console/permission-sets"):
        browser.get(koudai.base_url + page)
        assert "无权查看" in browser.page_source, page
