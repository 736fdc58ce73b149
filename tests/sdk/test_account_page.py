"""An official account's page in a real headless Chromium: a consumer signs
in, follows the account, taps a click button and sends a message, and sees
the replies of the account's server (written with wechatpy)."""
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait


from conftest import PAGE_TURNS
from test_mp import MENU, client_for
from test_mp_push import DeveloperServer, set_server


def test_a_consumer_follows_taps_a_button_and_chats(koudai, browser):
    account = koudai.demo["accounts"][3]
    client = client_for(koudai, account)
    client.menu.create(MENU)
    server = DeveloperServer(account)
    try:
        assert set_server(koudai, account, server.url, "safe").status_code == 200
        alice = koudai.consumer("alice")
        browser.delete_all_cookies()
        browser.get(f"{koudai.base_url}/mp/{account['appid']}")
        assert browser.find_element(By.ID, "account-name").text == account["name"]
        browser.find_element(By.ID, "login").send_keys("alice")
        browser.find_element(By.ID, "password").send_keys(alice["password"])
        browser.find_element(By.ID, "sign-in").click()
        WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "follow"))).click()
        WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "following")))
        assert "欢迎" in browser.find_element(By.ID, "chat").text, "the server's welcome (news) reply"

        browser.find_element(By.XPATH, "//button[normalize-space()='今日歌曲']").click()
        WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.text_to_be_present_in_element((By.ID, "chat"), "clicked V1001_TODAY_MUSIC"))
        assert server.received[-1].key == "V1001_TODAY_MUSIC"

        browser.find_element(By.ID, "content").send_keys("有热汤吗")
        browser.find_element(By.ID, "send").click()
        WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.text_to_be_present_in_element((By.ID, "chat"), "echo: 有热汤吗"))

        # A sub-menu's view button opens its URL (and tells the server).
        browser.find_element(By.XPATH, "//summary[normalize-space()='菜单']").click()
        browser.find_element(By.XPATH, "//button[normalize-space()='搜索']").click()
        WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(lambda d: d.current_url.startswith("http://www.soso.com") or server.received[-1].type == "event" and server.received[-1].event == "view")
        assert server.received[-1].event == "view"

        browser.get(f"{koudai.base_url}/mp/{account['appid']}")
        browser.find_element(By.ID, "unfollow").click()
        WebDriverWait(browser, 10, ignored_exceptions=PAGE_TURNS).until(EC.presence_of_element_located((By.ID, "follow")))
    finally:
        server.close()
