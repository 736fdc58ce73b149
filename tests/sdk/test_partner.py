"""Partner mode with the unmodified wechatpayv3 SDK (`partner_mode=True`):
the demo's official provider signs in certificate mode, the third-party one
in public-key mode. Payments, callbacks, queries, closes, refunds, bills and
profit sharing for their sub-merchants; privileges granted and revoked."""
import gzip
import hashlib
import json
import re
import time

import pytest
import requests
from wechatpayv3 import WeChatPayType

from conftest import new_out_trade_no, wait_for

KINDS = ["official", "third_party"]


def sub_of(koudai, kind):
    return koudai.provider(kind)["sub_merchants"][0]


def pay_native(koudai, wxpay, sub, total=1500, consumer="alice", **extra):
    no = new_out_trade_no()
    code, text = wxpay.pay(description="Partner noodles", out_trade_no=no, amount={"total": total},
                           sub_mchid=sub["sub_mchid"], **extra)
    assert code == 200, text
    r = koudai.pay(consumer, code_url=json.loads(text)["code_url"])
    assert r.status_code == 200, r.text
    return no, r.json()["transaction_id"]


@pytest.mark.parametrize("kind", KINDS)
def test_partner_native_order_is_paid_called_back_queried_and_closed(koudai, receiver, kind):
    wxpay = koudai.provider_sdk(kind, notify_url=receiver.url)
    p, sub = koudai.provider(kind), sub_of(koudai, kind)
    no, transaction_id = pay_native(koudai, wxpay, sub, attach="table-3")

    headers, body = receiver.next()
    result = wxpay.callback(headers, body)  # verified with the platform key, decrypted with the provider's APIv3 key
    assert result is not None, "the SDK rejected the partner callback"
    assert result["event_type"] == "TRANSACTION.SUCCESS"
    resource = result["resource"]
    assert resource["sp_mchid"] == p["sp_mchid"] and resource["sub_mchid"] == sub["sub_mchid"]
    assert resource["sp_appid"] == p["sp_appid"] and "mchid" not in resource
    assert resource["out_trade_no"] == no and resource["transaction_id"] == transaction_id
    assert resource["payer"]["sp_openid"] == koudai.consumer("alice")["openids"][p["sp_appid"]]
    assert resource["attach"] == "table-3"

    for query in (dict(out_trade_no=no), dict(transaction_id=transaction_id)):
        code, text = wxpay.query(sub_mchid=sub["sub_mchid"], **query)
        assert code == 200, text
        got = json.loads(text)
        assert got["trade_state"] == "SUCCESS" and got["sub_mchid"] == sub["sub_mchid"]

    unpaid = new_out_trade_no()
    code, text = wxpay.pay(description="Left", out_trade_no=unpaid, amount={"total": 100}, sub_mchid=sub["sub_mchid"])
    assert code == 200, text
    code, text = wxpay.close(unpaid, sub_mchid=sub["sub_mchid"])
    assert code == 204, text
    code, text = wxpay.query(out_trade_no=unpaid, sub_mchid=sub["sub_mchid"])
    assert json.loads(text)["trade_state"] == "CLOSED"


def test_partner_jsapi_pay_sign_by_the_provider_opens_the_cashier(koudai):
    wxpay = koudai.provider_sdk("official", wechatpay_type=WeChatPayType.JSAPI)
    p, sub = koudai.provider("official"), sub_of(koudai, "official")
    bob = koudai.consumer("bob")
    for payer, app_id, extra in (
        ({"sp_openid": bob["openids"][p["sp_appid"]]}, p["sp_appid"], {}),
        ({"sub_openid": bob["openids"][sub["sub_appid"]]}, sub["sub_appid"], {"sub_appid": sub["sub_appid"]}),
    ):
        no = new_out_trade_no()
        code, text = wxpay.pay(description="Noodles to go", out_trade_no=no, amount={"total": 1288},
                               payer=payer, sub_mchid=sub["sub_mchid"], **extra)
        assert code == 200, text
        package = "prepay_id=" + json.loads(text)["prepay_id"]
        ts, nonce = str(int(time.time())), "N" + new_out_trade_no()
        params = {"appId": app_id, "timeStamp": ts, "nonceStr": nonce, "package": package, "signType": "RSA",
                  "paySign": wxpay.sign([app_id, ts, nonce, package])}
        bad = dict(params, paySign=params["paySign"][:-8] + "AAAAAAA=")
        assert requests.get(koudai.base_url + "/pay/jsapi", params=bad, timeout=10).status_code == 400
        page = requests.get(koudai.base_url + "/pay/jsapi", params=params, timeout=10)
        assert page.status_code == 200 and "12.88" in page.text, page.text
        form = dict(params, kind="jsapi", login="bob", password=bob["password"])
        paid = requests.post(koudai.base_url + "/pay/jsapi/confirm", data=form, timeout=10)
        assert paid.status_code == 200, paid.text
        code, text = wxpay.query(out_trade_no=no, sub_mchid=sub["sub_mchid"])
        got = json.loads(text)
        assert got["trade_state"] == "SUCCESS", got
        assert got["payer"]["sp_openid"] == bob["openids"][p["sp_appid"]]
        if "sub_appid" in extra:
            assert got["payer"]["sub_openid"] == bob["openids"][sub["sub_appid"]]


@pytest.mark.parametrize("kind", KINDS)
def test_partner_refund_is_called_back_to_the_provider(koudai, receiver, kind):
    koudai.clear_of_midnight()
    wxpay = koudai.provider_sdk(kind, notify_url=receiver.url)
    sub = sub_of(koudai, kind)
    no, _ = pay_native(koudai, wxpay, sub, total=2000)
    receiver.next()  # the payment's callback
    code, text = wxpay.refund(out_refund_no=no + "R", amount={"refund": 700, "total": 2000, "currency": "CNY"},
                              out_trade_no=no, sub_mchid=sub["sub_mchid"], notify_url=receiver.url)
    assert code == 200, text
    assert json.loads(text)["status"] == "PROCESSING"
    koudai.advance(61)
    headers, body = receiver.next()
    resource = wxpay.callback(headers, body)["resource"]
    assert resource["refund_status"] == "SUCCESS" and resource["out_refund_no"] == no + "R"
    assert resource["sp_mchid"] == koudai.provider(kind)["sp_mchid"] and resource["sub_mchid"] == sub["sub_mchid"]
    code, text = wxpay.query_refund(no + "R", sub_mchid=sub["sub_mchid"])
    assert code == 200 and json.loads(text)["status"] == "SUCCESS", text


def read_bill(wxpay, link):
    code, data = wxpay.download_bill(link["download_url"])
    assert code == 200, data
    raw = gzip.decompress(data) if "tartype=gzip" in link["download_url"] else data
    assert hashlib.sha1(raw).hexdigest() == link["hash_value"]
    return raw.decode("utf-8-sig")


def test_partner_trade_bill_filtered_by_sub_mchid(koudai):
    wxpay = koudai.provider_sdk("third_party")
    p, sub = koudai.provider("third_party"), sub_of(koudai, "third_party")
    no, transaction_id = pay_native(koudai, wxpay, sub, total=4321)
    day = koudai.business_date()
    koudai.advance(86400)
    code, text = wxpay.trade_bill(bill_date=day, sub_mchid=sub["sub_mchid"])
    assert code == 200, text
    bill = read_bill(wxpay, json.loads(text))
    header = bill.splitlines()[0].split(",")
    rows = [dict(zip(header, (f.lstrip("`") for f in line.split(",")))) for line in bill.splitlines()[1:] if no in line]
    assert rows, bill
    assert rows[0]["商户号"] == p["sp_mchid"] and rows[0]["特约商户号"] == sub["sub_mchid"]
    assert rows[0]["微信订单号"] == transaction_id and rows[0]["订单金额"] == "43.21"
    # Another provider's sub-merchant is refused, and says why.
    other = sub_of(koudai, "official")["sub_mchid"]
    code, text = wxpay.trade_bill(bill_date=day, sub_mchid=other)
    assert code == 403 and json.loads(text)["code"] == "NO_AUTH", text


def test_profit_sharing_commission_reaches_the_providers_fund_flow_bill(koudai, receiver):
    koudai.clear_of_midnight(margin=600)
    wxpay = koudai.provider_sdk("official", notify_url=receiver.url)
    p, sub = koudai.provider("official"), sub_of(koudai, "official")
    no, transaction_id = pay_native(koudai, wxpay, sub, total=10000, settle_info={"profit_sharing": True})
    receiver.next()

    code, text = wxpay.profitsharing_add_receiver(account_type="MERCHANT_ID", account=p["sp_mchid"], name=p["name"],
                                                  relation_type="SERVICE_PROVIDER", sub_mchid=sub["sub_mchid"])
    assert code == 200, text
    code, text = wxpay.profitsharing_add_receiver(account_type="MERCHANT_ID", account=p["sp_mchid"], name="Wrong Name Ltd.",
                                                  relation_type="SERVICE_PROVIDER", sub_mchid=sub["sub_mchid"])
    assert code == 400 and json.loads(text)["code"] == "INVALID_REQUEST", text

    code, text = wxpay.profitsharing_amount_query(transaction_id)
    assert code == 200 and json.loads(text)["unsplit_amount"] == 10000 - 60, text

    out_order_no = "PS" + no
    receivers = [{"type": "MERCHANT_ID", "account": p["sp_mchid"], "amount": 800, "description": "commission"}]
    code, text = wxpay.profitsharing_order(transaction_id, out_order_no, receivers, unfreeze_unsplit=False,
                                           sub_mchid=sub["sub_mchid"])
    assert code == 200, text
    order = json.loads(text)
    assert order["state"] == "PROCESSING" and order["receivers"][0]["result"] == "PENDING"
    koudai.advance(61)
    code, text = wxpay.profitsharing_order_query(transaction_id, out_order_no, sub_mchid=sub["sub_mchid"])
    done = json.loads(text)
    assert done["state"] == "FINISHED" and done["receivers"][0]["result"] == "SUCCESS", done

    code, text = wxpay.profitsharing_unfreeze(transaction_id, "UF" + no, "the rest to the shop", sub_mchid=sub["sub_mchid"])
    assert code == 200, text
    code, text = wxpay.profitsharing_amount_query(transaction_id)
    assert json.loads(text)["unsplit_amount"] == 0
    code, text = wxpay.profitsharing_config_query(sub["sub_mchid"])
    assert json.loads(text) == {"sub_mchid": sub["sub_mchid"], "max_ratio": 3000}

    # The commission is in the provider's own fund-flow bill of the day.
    day = koudai.business_date()
    koudai.advance(86400)
    code, text = wxpay.fundflow_bill(bill_date=day, account_type="BASIC")
    assert code == 200, text
    bill = read_bill(wxpay, json.loads(text))
    lines = [l for l in bill.splitlines() if "分账入账" in l and out_order_no in l]
    assert lines and "`8.00" in lines[0], bill


def test_profit_sharing_needs_its_privilege(koudai):
    wxpay = koudai.provider_sdk("third_party")
    sub = sub_of(koudai, "third_party")
    code, text = wxpay.pay(description="x", out_trade_no=new_out_trade_no(), amount={"total": 100},
                           sub_mchid=sub["sub_mchid"], settle_info={"profit_sharing": True})
    assert code == 403, text
    assert json.loads(text)["code"] == "NO_AUTH" and "profit_sharing" in json.loads(text)["message"]


def test_payment_interface_is_granted_and_revoked(koudai):
    wxpay = koudai.provider_sdk("third_party")
    p, sub = koudai.provider("third_party"), sub_of(koudai, "third_party")

    def privilege(action):
        r = koudai.sandbox("POST", "/sandbox/v1/privileges",
                           json={"sp_mchid": p["sp_mchid"], "privilege": "payment_interface", "action": action,
                                 "reason": "SDK test"})
        assert r.status_code == 200, r.text
        return r.json()["held"]

    def prepay():
        return wxpay.pay(description="x", out_trade_no=new_out_trade_no(), amount={"total": 100},
                         sub_mchid=sub["sub_mchid"])

    try:
        assert privilege("revoke") is False
        code, text = prepay()
        assert code == 403 and "payment_interface" in json.loads(text)["message"], text
    finally:
        assert privilege("grant") is True
    code, text = prepay()
    assert code == 200, text


def test_sandbox_deposits_pay_a_sub_merchants_deposit(koudai):
    sub = sub_of(koudai, "official")
    r = koudai.sandbox("POST", "/sandbox/v1/deposits", json={"mchid": sub["sub_mchid"]})
    assert r.status_code == 200, r.text
    assert r.json() == {"mchid": sub["sub_mchid"], "deposit_fen": 5_000_000, "held_fen": 5_000_000}
