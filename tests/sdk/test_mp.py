"""Official accounts with the unmodified wechatpy 1.8.18 `WeChatClient`:
access tokens and custom menus, and every invalid menu refused with the
errcode the real server gives (protocol notes wechat-mp.md §3)."""
import pytest
import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException


def client_for(koudai, account, **kwargs):
    """A WeChatClient aimed at Koudai: its base URL, and its token fetch
    (hard-coded to the real host in wechatpy) sent to Koudai's /cgi-bin/token."""
    base = koudai.base_url

    class Client(WeChatClient):
        API_BASE_URL = base + "/cgi-bin/"

        def fetch_access_token(self):
            return self._fetch_access_token(
                url=base + "/cgi-bin/token",
                params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            )

    return Client(account["appid"], account["secret"], **kwargs)


def account(koudai, n=0):
    return koudai.demo["accounts"][n]


def token(koudai, a):
    r = requests.get(koudai.base_url + "/cgi-bin/token",
                     params={"grant_type": "client_credential", "appid": a["appid"], "secret": a["secret"]}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json"), r.text
    return r.json()


MENU = {"button": [
    {"type": "click", "name": "今日歌曲", "key": "V1001_TODAY_MUSIC"},
    {"name": "菜单", "sub_button": [
        {"type": "view", "name": "搜索", "url": "http://www.soso.com/"},
        {"type": "click", "name": "赞一下我们", "key": "V1001_GOOD"}]}]}


def test_a_token_and_the_default_menu(koudai):
    a = account(koudai)
    client = client_for(koudai, a)
    assert len(client.access_token) > 20
    client.menu.delete()
    assert client.menu.get() is None, "46003 'menu no exist' makes wechatpy answer None"
    assert client.menu.create(MENU)["errcode"] == 0
    got = client.menu.get()
    assert got["menu"]["button"][0] == {"type": "click", "name": "今日歌曲", "key": "V1001_TODAY_MUSIC", "sub_button": []}
    assert got["menu"]["button"][1]["sub_button"][0]["url"] == "http://www.soso.com/"
    assert isinstance(got["menu"]["menuid"], int)
    info = client.menu.get_menu_info()
    assert info["is_menu_open"] == 1
    assert info["selfmenu_info"]["button"][1]["sub_button"]["list"][1]["key"] == "V1001_GOOD"


def test_conditional_menus(koudai):
    a = account(koudai, 1)
    client = client_for(koudai, a)
    client.menu.delete()
    with pytest.raises(WeChatClientException) as e:
        client.menu.add_conditional(dict(MENU, matchrule={"client_platform_type": "3"}))
    assert e.value.errcode == 65303, "a default menu must exist first"
    client.menu.create(MENU)
    for rule, code in (({}, 65304), ({"sex": "1"}, 65320)):
        with pytest.raises(WeChatClientException) as e:
            client.menu.add_conditional(dict(MENU, matchrule=rule))
        assert e.value.errcode == code, rule
    other = {"button": [{"type": "click", "name": "网页用户", "key": "WEB"}], "matchrule": {"client_platform_type": "3"}}
    menuid = client.menu.add_conditional(other)["menuid"]
    assert isinstance(menuid, str) and menuid.isdigit()
    openid = koudai.consumer("alice")["openids"][a["appid"]]
    assert client.menu.try_match(openid)["button"][0]["key"] == "WEB"
    with pytest.raises(WeChatClientException) as e:
        client.menu.try_match("o-nobody")
    assert e.value.errcode == 65302
    assert [m["menuid"] for m in client.menu.get()["conditionalmenu"]] == [int(menuid)]
    client.menu.del_conditional(menuid)
    with pytest.raises(WeChatClientException) as e:
        client.menu.del_conditional(menuid)
    assert e.value.errcode == 65301
    assert client.menu.try_match(openid)["button"][0]["key"] == "V1001_TODAY_MUSIC"


def click(name="a", key="K"):
    return {"type": "click", "name": name, "key": key}


INVALID = [
    ({"button": []}, 40016),
    ({"button": [click(), click(), click(), click()]}, 40016),
    ({"menu": {"button": [click()]}}, 40016),
    ({"button": [{"name": "m", "sub_button": {"list": [click()]}}]}, 40016),
    ({"button": [{"type": "teleport", "name": "a", "key": "K"}]}, 40017),
    ({"button": [click(name="")]}, 40018),
    ({"button": [click(name="十七个字节的名字呀")]}, 40018),
    ({"button": [{"type": "click", "name": "a"}]}, 40019),
    ({"button": [click(key="k" * 129)]}, 40019),
    ({"button": [{"type": "view", "name": "a"}]}, 40020),
    ({"button": [{"type": "view", "name": "a", "url": "ftp://example.com/"}]}, 40020),
    ({"button": [{"name": "m", "sub_button": [{"name": "s", "sub_button": [click()]}]}]}, 40022),
    ({"button": [{"name": "m", "sub_button": [click(str(i)) for i in range(6)]}]}, 40023),
    ({"button": [{"name": "m", "sub_button": [{"name": "s", "type": "teleport"}]}]}, 40024),
    ({"button": [{"name": "m", "sub_button": [click(name="长" * 21)]}]}, 40025),
    ({"button": [{"name": "m", "sub_button": [{"name": "s", "type": "click"}]}]}, 40026),
    ({"button": [{"name": "m", "sub_button": [{"name": "s", "type": "view", "key": "k"}]}]}, 40027),
    ({"button": [{"type": "media_id", "name": "a", "media_id": "nope"}]}, 40007),
    ({"button": [{"type": "article_id", "name": "a", "article_id": "nope"}]}, 53600),
    ({"button": [{"type": "miniprogram", "name": "a", "appid": "wx1", "pagepath": "p", "url": "http://a.cn"}]}, 40119),
    ({"button": [{"name": "m", "sub_button": [{"type": "view", "name": str(i), "url": f"http://d{i}.cn/"} for i in range(4)]}]}, 65316),
]


@pytest.mark.parametrize("menu,errcode", INVALID)
def test_each_invalid_menu_gets_the_servers_errcode(koudai, menu, errcode):
    client = client_for(koudai, account(koudai, 2))
    with pytest.raises(WeChatClientException) as e:
        client.menu.create(menu)
    assert e.value.errcode == errcode, e.value.errmsg


def test_unicode_escapes_are_refused_like_the_real_server(koudai):
    a = account(koudai, 2)
    t = token(koudai, a)["access_token"]
    r = requests.post(koudai.base_url + "/cgi-bin/menu/create", params={"access_token": t},
                      data=b'{"button":[{"type":"click","name":"\\u4eca\\u65e5","key":"K"}]}', timeout=10)
    assert r.json()["errcode"] == 40033


def test_token_errors_are_http_200_with_integer_errcodes(koudai):
    a = account(koudai)
    base = koudai.base_url + "/cgi-bin/token"
    cases = [
        ({"grant_type": "password", "appid": a["appid"], "secret": a["secret"]}, 40002),
        ({"grant_type": "client_credential", "appid": "wx0000000000000000", "secret": "x"}, 40013),
        ({"grant_type": "client_credential", "appid": a["appid"], "secret": "wrong"}, 40125),
        ({"grant_type": "client_credential", "secret": "x"}, 41002),
        ({"grant_type": "client_credential", "appid": a["appid"]}, 41004),
    ]
    for params, code in cases:
        r = requests.get(base, params=params, timeout=10)
        assert r.status_code == 200 and r.json()["errcode"] == code and r.json()["errmsg"], (params, r.text)
    assert requests.post(base, timeout=10).json()["errcode"] == 43001
    menu = koudai.base_url + "/cgi-bin/menu/get"
    assert requests.get(menu, timeout=10).json()["errcode"] == 41001
    assert requests.get(menu, params={"access_token": "no-such-token"}, timeout=10).json()["errcode"] == 40001
    assert requests.get(menu, params={"access_token": "bad token!"}, timeout=10).json()["errcode"] == 40014


def test_a_new_token_supersedes_the_old_after_five_minutes_and_tokens_expire(koudai):
    koudai.clear_of_midnight(margin=8000)
    a = account(koudai, 3)
    first = token(koudai, a)["access_token"]
    second = token(koudai, a)
    assert second["expires_in"] == 7200 and second["access_token"] != first
    get = lambda t: requests.get(koudai.base_url + "/cgi-bin/get_current_selfmenu_info", params={"access_token": t}, timeout=10).json()
    assert "is_menu_open" in get(first), "the old token still works during the overlap"
    koudai.advance(301)
    assert get(first)["errcode"] == 40001
    assert "is_menu_open" in get(second["access_token"])
    koudai.advance(7200)
    assert get(second["access_token"])["errcode"] == 42001
    # wechatpy refreshes on 42001 by itself (auto_retry).
    client = client_for(koudai, a, access_token=second["access_token"])
    assert client.menu.get_menu_info()["is_menu_open"] in (0, 1)


def test_stable_tokens_are_a_pool_of_their_own(koudai):
    a = account(koudai, 3)
    url = koudai.base_url + "/cgi-bin/stable_token"
    body = {"grant_type": "client_credential", "appid": a["appid"], "secret": a["secret"]}
    one = requests.post(url, json=body, timeout=10).json()
    two = requests.post(url, json=body, timeout=10).json()
    assert one["access_token"] == two["access_token"] and two["expires_in"] >= 300
    forced = requests.post(url, json=dict(body, force_refresh=True), timeout=10).json()
    assert forced["access_token"] != one["access_token"]
    assert requests.get(url, timeout=10).json()["errcode"] == 43002
