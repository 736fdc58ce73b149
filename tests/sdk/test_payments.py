"""Payments through the unmodified wechatpayv3 SDK, in both key modes."""
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from wechatpayv3 import WeChatPayType

from conftest import new_out_trade_no, wait_for

MODES = ["public_key", "certificate"]


@pytest.mark.parametrize("mode", MODES)
def test_native_order_is_paid_notified_and_queried(koudai, receiver, mode):
    wxpay = koudai.sdk(mode, notify_url=receiver.url)
    out_trade_no = new_out_trade_no()
    code, text = wxpay.pay(description="Green tea", out_trade_no=out_trade_no, amount={"total": 1234}, attach="table-7")
    assert code == 200, text
    code_url = json.loads(text)["code_url"]
    assert code_url.startswith("weixin://wxpay/bizpayurl?pr=")

    code, text = wxpay.query(out_trade_no=out_trade_no)
    assert code == 200, text
    unpaid = json.loads(text)
    assert unpaid["trade_state"] == "NOTPAY"
    assert "transaction_id" not in unpaid and "success_time" not in unpaid and "payer" not in unpaid

    r = koudai.pay("alice", code_url=code_url)
    assert r.status_code == 200, r.text
    assert r.json()["trade_state"] == "SUCCESS"
    transaction_id = r.json()["transaction_id"]
    assert len(transaction_id) == 28 and transaction_id.startswith("42000")

    # The SDK's own callback code verifies the signature and decrypts.
    headers, body = receiver.next()
    assert headers["wechatpay-signature-type"] == "WECHATPAY2-SHA256-RSA2048"
    expected_serial = koudai.demo["platform"]["public_key_id"] if mode == "public_key" else koudai.demo["platform"]["certificate_serial"]
    assert headers["wechatpay-serial"] == expected_serial
    result = wxpay.callback(headers, body)
    assert result is not None, "SDK rejected the callback"
    assert result["event_type"] == "TRANSACTION.SUCCESS"
    assert result["resource_type"] == "encrypt-resource"
    resource = result["resource"]
    assert resource["trade_state"] == "SUCCESS"
    assert resource["out_trade_no"] == out_trade_no
    assert resource["transaction_id"] == transaction_id
    assert resource["amount"]["total"] == 1234 and resource["amount"]["payer_total"] == 1234
    assert resource["attach"] == "table-7"
    assert resource["payer"]["openid"] == koudai.consumer("alice")["openids"][wxpay._appid]
    assert resource["success_time"].endswith("+08:00")

    for query in ({"out_trade_no": out_trade_no}, {"transaction_id": transaction_id}):
        code, text = wxpay.query(**query)
        assert code == 200, text
        paid = json.loads(text)
        assert paid["trade_state"] == "SUCCESS" and paid["trade_type"] == "NATIVE"
        assert paid["transaction_id"] == transaction_id

    delivered = wait_for(lambda: [n for n in koudai.notifications(out_trade_no) if n["status"] == "DELIVERED"])
    assert delivered[0]["attempts"][0]["http_status"] == 200


@pytest.mark.parametrize("mode", MODES)
def test_jsapi_order_is_paid_by_its_payer_only(koudai, receiver, mode):
    wxpay = koudai.sdk(mode, notify_url=receiver.url, wechatpay_type=WeChatPayType.JSAPI)
    openid = koudai.consumer("bob")["openids"][wxpay._appid]
    out_trade_no = new_out_trade_no()
    code, text = wxpay.pay(description="Novel", out_trade_no=out_trade_no, amount={"total": 500, "currency": "CNY"}, payer={"openid": openid})
    assert code == 200, text
    prepay_id = json.loads(text)["prepay_id"]
    assert prepay_id.startswith("wx") and len(prepay_id) == 36

    r = koudai.pay("alice", prepay_id=prepay_id)
    assert r.status_code == 403 and r.json()["code"] == "OPENID_MISMATCH", r.text

    r = koudai.pay("bob", prepay_id=prepay_id)
    assert r.status_code == 200 and r.json()["trade_state"] == "SUCCESS", r.text
    headers, body = receiver.next()
    assert wxpay.callback(headers, body)["resource"]["payer"]["openid"] == openid

    r = koudai.pay("bob", prepay_id=prepay_id)
    assert r.status_code == 400 and r.json()["code"] == "ORDERPAID", r.text


@pytest.mark.parametrize("mode", MODES)
def test_close_duplicate_and_errors(koudai, mode):
    wxpay = koudai.sdk(mode)
    out_trade_no = new_out_trade_no()
    code, first = wxpay.pay(description="Cake", out_trade_no=out_trade_no, amount={"total": 300})
    assert code == 200, first

    # Same parameters again: the same order back. Different ones: refused.
    code, again = wxpay.pay(description="Cake", out_trade_no=out_trade_no, amount={"total": 300})
    assert (code, json.loads(again)) == (200, json.loads(first))
    code, text = wxpay.pay(description="Cake", out_trade_no=out_trade_no, amount={"total": 301})
    assert code == 403 and json.loads(text)["code"] == "OUT_TRADE_NO_USED", text

    code, text = wxpay.close(out_trade_no=out_trade_no)
    assert (code, text) == (204, ""), text
    code, text = wxpay.query(out_trade_no=out_trade_no)
    assert json.loads(text)["trade_state"] == "CLOSED"
    r = koudai.pay("alice", code_url=json.loads(first)["code_url"])
    assert r.status_code == 400 and r.json()["code"] == "ORDER_CLOSED", r.text
    code, text = wxpay.pay(description="Cake", out_trade_no=out_trade_no, amount={"total": 300})
    assert code == 400 and json.loads(text)["code"] == "ORDER_CLOSED", text

    code, text = wxpay.query(out_trade_no="NO_SUCH_ORDER_1")
    assert code == 404 and json.loads(text)["code"] == "ORDER_NOT_EXIST", text
    code, text = wxpay.close(out_trade_no="NO_SUCH_ORDER_1")
    assert code == 404 and json.loads(text)["code"] == "ORDER_NOT_EXIST", text

    code, text = wxpay.pay(description="Cake", out_trade_no="bad no", amount={"total": 300})
    err = json.loads(text)
    assert code == 400 and err["code"] == "PARAM_ERROR" and err["detail"]["field"] == "out_trade_no", text
    code, text = wxpay.pay(description="Cake", out_trade_no=new_out_trade_no(), amount={"total": "3"})
    assert code == 400 and json.loads(text)["detail"]["field"] == "amount.total", text
    code, text = wxpay.pay(description="Cake", out_trade_no=new_out_trade_no(), amount={"total": 3}, time_expire="tomorrow")
    assert code == 400 and json.loads(text)["detail"]["field"] == "time_expire", text
    code, text = wxpay.pay(description="Cake", out_trade_no=new_out_trade_no(), amount={"total": 3}, appid="wx0000000000000000")
    assert code == 400 and json.loads(text)["code"] == "APPID_MCHID_NOT_MATCH", text
    code, text = wxpay.pay(description="Cake", out_trade_no=new_out_trade_no(), amount={"total": 3}, mchid="1999999999")
    assert code == 400 and json.loads(text)["code"] == "MCH_NOT_EXISTS", text


@pytest.mark.parametrize("mode", MODES)
def test_tampered_signature_is_refused(koudai, mode):
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    wxpay = koudai.sdk(mode, private_key=other_key)
    code, text = wxpay.pay(description="Cake", out_trade_no=new_out_trade_no(), amount={"total": 300})
    err = json.loads(text)
    assert code == 401 and err["code"] == "SIGN_ERROR", text
    assert err["detail"]["sign_information"]["url"] == "/v3/pay/transactions/native"


def test_h5_and_app_prepay(koudai):
    h5 = koudai.sdk("public_key", wechatpay_type=WeChatPayType.H5)
    code, text = h5.pay(description="H5", out_trade_no=new_out_trade_no(), amount={"total": 10},
                        scene_info={"payer_client_ip": "127.0.0.1", "h5_info": {"type": "Wap"}})
    assert code == 200, text
    h5_url = json.loads(text)["h5_url"]
    assert h5_url.startswith(koudai.base_url + "/pay/h5?prepay_id=wx")
    code, text = h5.pay(description="H5", out_trade_no=new_out_trade_no(), amount={"total": 10},
                        scene_info={"payer_client_ip": "127.0.0.1"})
    assert code == 400 and json.loads(text)["detail"]["field"] == "scene_info.h5_info", text

    app = koudai.sdk("certificate", wechatpay_type=WeChatPayType.APP)
    out_trade_no = new_out_trade_no()
    code, text = app.pay(description="App", out_trade_no=out_trade_no, amount={"total": 10})
    assert code == 200, text
    r = koudai.pay("bob", prepay_id=json.loads(text)["prepay_id"])
    assert r.json()["trade_state"] == "SUCCESS", r.text
    code, text = app.query(out_trade_no=out_trade_no)
    assert json.loads(text)["trade_type"] == "APP"


def test_insufficient_balance_is_a_clean_refusal(koudai):
    wxpay = koudai.sdk("public_key")
    out_trade_no = new_out_trade_no()
    code, text = wxpay.pay(description="Gold", out_trade_no=out_trade_no, amount={"total": 50_000_000})
    assert code == 200, text
    r = koudai.pay("alice", code_url=json.loads(text)["code_url"])
    assert r.status_code == 403 and r.json()["code"] == "NOT_ENOUGH", r.text
    code, text = wxpay.query(out_trade_no=out_trade_no)
    assert json.loads(text)["trade_state"] == "NOTPAY"
    assert koudai.notifications(out_trade_no) == []


def test_platform_certificates(koudai):
    cert_sdk = koudai.sdk("certificate")
    cert_sdk._core._update_certificates()
    serials = [format(c.serial_number, "X") for c in cert_sdk._core._certificates]
    assert serials == [koudai.demo["platform"]["certificate_serial"]]

    key_sdk = koudai.sdk("public_key")
    code, text = key_sdk._core.request("/v3/certificates")
    assert code == 404 and json.loads(text)["code"] == "RESOURCE_NOT_EXISTS", text


def test_expiry_and_callback_retries_follow_the_business_clock(koudai):
    from conftest import Receiver

    failing = Receiver(status=500)
    try:
        wxpay = koudai.sdk("public_key", notify_url=failing.url)
        # An order that expires in two minutes closes when the clock passes it.
        expiring = new_out_trade_no()
        clock = koudai.sandbox("GET", "/sandbox/v1/clock").json()
        from datetime import datetime, timedelta, timezone
        expire_at = datetime.fromtimestamp(clock["business_unix"] + 120, tz=timezone.utc).isoformat().replace("+00:00", "Z")
        code, text = wxpay.pay(description="Soon", out_trade_no=expiring, amount={"total": 5}, time_expire=expire_at)
        assert code == 200, text
        expiring_url = json.loads(text)["code_url"]

        paid = new_out_trade_no()
        code, text = wxpay.pay(description="Retry", out_trade_no=paid, amount={"total": 7})
        assert koudai.pay("alice", code_url=json.loads(text)["code_url"]).status_code == 200
        failing.next()
        wait_for(lambda: len(koudai.notifications(paid)[0]["attempts"]) == 1)

        # Nothing more until the business clock reaches the 15 s retry.
        failing.status = 200
        koudai.advance(15)
        headers, body = failing.next()
        assert wxpay.callback(headers, body)["resource"]["out_trade_no"] == paid
        n = wait_for(lambda: [x for x in koudai.notifications(paid) if x["status"] == "DELIVERED"])[0]
        assert [a["http_status"] for a in n["attempts"]] == [500, 200]

        koudai.advance(120)
        code, text = wxpay.query(out_trade_no=expiring)
        assert json.loads(text)["trade_state"] == "CLOSED"
        r = koudai.pay("alice", code_url=expiring_url)
        assert r.json()["code"] == "ORDER_CLOSED", r.text
    finally:
        failing.close()


def test_sandbox_api_requires_its_token(koudai):
    import requests

    r = requests.post(koudai.base_url + "/sandbox/v1/clock/advance", json={"seconds": 1}, timeout=5)
    assert r.status_code == 401 and r.json()["code"] == "UNAUTHORIZED"
    r = koudai.sandbox("POST", "/sandbox/v1/clock/advance", json={"seconds": -5})
    assert r.status_code == 400 and r.json()["detail"]["field"] == "seconds"


def test_a_failed_payment_can_be_retried(koudai):
    wxpay = koudai.sdk("public_key")
    out_trade_no = new_out_trade_no()
    code, text = wxpay.pay(description="Bank says no", out_trade_no=out_trade_no, amount={"total": 66})
    code_url = json.loads(text)["code_url"]
    r = koudai.pay("bob", code_url=code_url, outcome="PAYERROR")
    assert r.status_code == 200 and r.json()["trade_state"] == "PAYERROR", r.text
    code, text = wxpay.query(out_trade_no=out_trade_no)
    assert json.loads(text)["trade_state"] == "PAYERROR"
    assert koudai.notifications(out_trade_no) == []
    r = koudai.pay("bob", code_url=code_url)
    assert r.json()["trade_state"] == "SUCCESS", r.text
