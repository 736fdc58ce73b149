"""Refunds, refund callbacks, bills, deposits and `koudai ledger verify`,
through the unmodified wechatpayv3 SDK (only its base URL changed)."""
import csv
import gzip
import hashlib
import io
import json
import sqlite3
import subprocess

import pytest
from wechatpayv3 import WeChatPay, WeChatPayType

from conftest import Koudai, backends, new_out_trade_no, wait_for


def paid_order(koudai, wxpay, total, consumer="alice"):
    no = new_out_trade_no()
    code, body = wxpay.pay(description="refundable", out_trade_no=no, amount={"total": total})
    assert code == 200, body
    r = koudai.pay(consumer, code_url=json.loads(body)["code_url"])
    assert r.status_code == 200, r.text
    return no


def next_event(receiver, event_type):
    """The next callback of `event_type` (TRANSACTION.SUCCESS ones are skipped)."""
    while True:
        headers, body = receiver.next()
        if json.loads(body)["event_type"] == event_type:
            return headers, body


def test_partial_refund_then_the_rest(koudai, receiver):
    # The test moves the clock 61 s and then refunds pending money: it must
    # not cross midnight, where that money is settled and paid out.
    koudai.clear_of_midnight()
    wxpay = koudai.sdk("public_key", notify_url=receiver.url)
    no = paid_order(koudai, wxpay, 1000)

    code, body = wxpay.refund(out_refund_no=no + "R1", amount={"refund": 300, "total": 1000, "currency": "CNY"}, out_trade_no=no, reason="尺码不合适")
    assert code == 200, body
    first = json.loads(body)
    assert first["status"] == "PROCESSING"
    assert "success_time" not in first
    assert first["refund_id"].startswith("50") and len(first["refund_id"]) == 29
    assert first["amount"]["refund"] == 300 and first["amount"]["total"] == 1000
    # 10.00 at 0.6% is a 6 fen fee; 3.00 of it returns round(1.8) = 2 fen.
    assert first["amount"]["refund_fee"] == 2
    assert first["funds_account"] == "UNSETTLED"

    # Asking again with the same out_refund_no and parameters: the same refund.
    code, body = wxpay.refund(out_refund_no=no + "R1", amount={"refund": 300, "total": 1000, "currency": "CNY"}, out_trade_no=no, reason="尺码不合适")
    assert code == 200 and json.loads(body)["refund_id"] == first["refund_id"]
    # Same out_refund_no, other amount: refused.
    code, body = wxpay.refund(out_refund_no=no + "R1", amount={"refund": 301, "total": 1000, "currency": "CNY"}, out_trade_no=no)
    assert code == 400 and json.loads(body)["code"] == "INVALID_REQUEST"

    code, body = wxpay.query(out_trade_no=no)
    assert json.loads(body)["trade_state"] == "REFUND"
    code, body = wxpay.query_refund(out_refund_no=no + "R1")
    assert code == 200 and json.loads(body)["status"] == "PROCESSING"

    koudai.advance(61)
    headers, raw = next_event(receiver, "REFUND.SUCCESS")
    result = wxpay.callback(headers, raw)  # verifies the signature and decrypts
    assert result is not None, "the SDK refused the refund callback"
    assert result["event_type"] == "REFUND.SUCCESS" and result["summary"] == "退款成功"
    resource = result["resource"]
    assert resource["refund_status"] == "SUCCESS" and "status" not in resource
    assert resource["out_refund_no"] == no + "R1" and resource["out_trade_no"] == no
    assert resource["amount"] == {"total": 1000, "refund": 300, "payer_total": 1000, "payer_refund": 300}
    assert resource["mchid"] == koudai.merchant("public_key")["mchid"]
    code, body = wxpay.query_refund(out_refund_no=no + "R1")
    done = json.loads(body)
    assert done["status"] == "SUCCESS" and done["success_time"].endswith("+08:00")

    # The rest, by transaction_id; the fee returned adds up to the whole fee.
    transaction_id = json.loads(wxpay.query(out_trade_no=no)[1])["transaction_id"]
    code, body = wxpay.refund(out_refund_no=no + "R2", amount={"refund": 700, "total": 1000, "currency": "CNY"}, transaction_id=transaction_id)
    assert code == 200, body
    assert json.loads(body)["amount"]["refund_fee"] == 4
    # Nothing left to refund.
    code, body = wxpay.refund(out_refund_no=no + "R3", amount={"refund": 1, "total": 1000, "currency": "CNY"}, out_trade_no=no)
    assert code == 400, body
    err = json.loads(body)
    assert err["code"] == "INVALID_REQUEST" and err["detail"]["field"] == "amount.refund"


def test_refund_errors(koudai):
    wxpay = koudai.sdk("public_key")
    code, body = wxpay.refund(out_refund_no="X1", amount={"refund": 1, "total": 1}, out_trade_no="NO_SUCH_ORDER")
    assert code == 404 and json.loads(body)["code"] == "RESOURCE_NOT_EXISTS"
    code, body = wxpay.query_refund(out_refund_no="NO_SUCH_REFUND")
    assert code == 404 and json.loads(body) == {"code": "RESOURCE_NOT_EXISTS", "message": "退款单不存在"}

    unpaid = new_out_trade_no()
    assert wxpay.pay(description="unpaid", out_trade_no=unpaid, amount={"total": 100})[0] == 200
    code, body = wxpay.refund(out_refund_no=unpaid + "R", amount={"refund": 100, "total": 100}, out_trade_no=unpaid)
    assert code == 404 and json.loads(body)["code"] == "RESOURCE_NOT_EXISTS"

    no = paid_order(koudai, wxpay, 100)
    code, body = wxpay.refund(out_refund_no=no + "R", amount={"refund": 50, "total": 99}, out_trade_no=no)
    assert code == 400 and json.loads(body)["detail"]["field"] == "amount.total"
    code, body = wxpay.refund(out_refund_no="退款单", amount={"refund": 50, "total": 100}, out_trade_no=no)
    assert code == 400 and json.loads(body)["code"] == "PARAM_ERROR"
    code, body = wxpay.refund(out_refund_no=no + "R", amount={"refund": 0, "total": 100}, out_trade_no=no)
    assert code == 400 and json.loads(body)["detail"]["field"] == "amount.refund"
    code, body = wxpay.refund(out_refund_no=no + "R", amount={"refund": 50, "total": 100}, out_trade_no=no, funds_account="UNAVAILABLE")
    assert code == 400 and json.loads(body)["detail"]["field"] == "funds_account"


def test_abnormal_refund_then_closed_returns_the_money(koudai, receiver):
    wxpay = koudai.sdk("certificate", notify_url=receiver.url)
    mchid = koudai.merchant("certificate")["mchid"]
    no = paid_order(koudai, wxpay, 500, consumer="bob")
    code, body = wxpay.refund(out_refund_no=no + "A", amount={"refund": 500, "total": 500}, out_trade_no=no)
    assert code == 200, body

    r = koudai.sandbox("POST", f"/sandbox/v1/refunds/{no}A/outcome", json={"mchid": mchid, "status": "ABNORMAL"})
    assert r.status_code == 200 and r.json()["status"] == "ABNORMAL", r.text
    headers, raw = next_event(receiver, "REFUND.ABNORMAL")
    result = wxpay.callback(headers, raw)
    assert result is not None and result["resource"]["refund_status"] == "ABNORMAL"
    assert "success_time" not in result["resource"]

    r = koudai.sandbox("POST", f"/sandbox/v1/refunds/{no}A/outcome", json={"mchid": mchid, "status": "CLOSED"})
    assert r.status_code == 200 and r.json()["status"] == "CLOSED", r.text
    headers, raw = next_event(receiver, "REFUND.CLOSED")
    assert wxpay.callback(headers, raw)["resource"]["refund_status"] == "CLOSED"
    # A finished refund cannot change again.
    r = koudai.sandbox("POST", f"/sandbox/v1/refunds/{no}A/outcome", json={"mchid": mchid, "status": "SUCCESS"})
    assert r.status_code == 400 and r.json()["code"] == "INVALID_REQUEST"

    # The money is back with the merchant: the order can be refunded afresh.
    assert json.loads(wxpay.query(out_trade_no=no)[1])["trade_state"] == "SUCCESS"
    code, body = wxpay.refund(out_refund_no=no + "B", amount={"refund": 500, "total": 500}, out_trade_no=no)
    assert code == 200, body


def read_bill(wxpay, link):
    """Downloads a bill link with the SDK and checks the hash over the plain file."""
    code, data = wxpay.download_bill(link["download_url"])
    assert code == 200, data
    text_bytes = gzip.decompress(data) if "tartype=gzip" in link["download_url"] else data
    assert link["hash_type"] == "SHA1"
    assert hashlib.sha1(text_bytes).hexdigest() == link["hash_value"]
    assert text_bytes.startswith(b"\xef\xbb\xbf") and text_bytes.endswith(b"\n")
    return text_bytes.decode("utf-8-sig")


def test_bills_match_the_day(koudai, receiver):
    wxpay = koudai.sdk("public_key", notify_url=receiver.url)
    day = koudai.business_date()
    code, body = wxpay.trade_bill(bill_date=day)
    assert code == 400 and json.loads(body)["code"] == "NO_STATISTICAL_DATA"

    no = paid_order(koudai, wxpay, 600)
    assert wxpay.refund(out_refund_no=no + "R", amount={"refund": 200, "total": 600}, out_trade_no=no)[0] == 200
    bill_day = koudai.business_date()
    if bill_day != day:
        pytest.skip("the business day ended during the test")

    koudai.advance(24 * 3600)  # the day is over; the worker settles it
    code, body = wxpay.trade_bill(bill_date=bill_day)
    assert code == 200, body
    link = json.loads(body)
    assert link["download_url"].startswith(koudai.base_url + "/v3/billdownload/file?token=")
    text = read_bill(wxpay, link)
    lines = text.splitlines()
    header = lines[0].split(",")
    assert len(header) == 27 and header[0] == "交易时间" and header[-1] == "费率备注"
    rows = [dict(zip(header, (f.lstrip("`") for f in line.split(",")))) for line in lines[1:-2]]
    mine = [r for r in rows if r["商户订单号"] == no]
    assert [r["交易状态"] for r in mine] == ["SUCCESS", "REFUND"]
    assert mine[0]["应结订单金额"] == "6.00" and mine[0]["手续费"] == "0.04000" and mine[0]["费率"] == "0.60%"
    assert mine[1]["退款金额"] == "2.00" and mine[1]["手续费"] == "-0.01000"
    assert lines[-2].startswith("总交易单数,")
    summary = [f.lstrip("`") for f in lines[-1].split(",")]
    assert int(summary[0]) == len(rows)

    # The same day asked again: the same snapshot, gzipped or not.
    code, body = wxpay.trade_bill(bill_date=bill_day, tar_type="")
    again = json.loads(body)
    assert again["hash_value"] == link["hash_value"] and "tartype" not in again["download_url"]
    assert read_bill(wxpay, again) == text

    code, body = wxpay.trade_bill(bill_date=bill_day, bill_type="REFUND")
    refunds = read_bill(wxpay, json.loads(body)).splitlines()
    assert len(refunds[0].split(",")) == 29 and all(",`REFUND," in line for line in refunds[1:-2])

    # Fund flow of the unsettled funds: payment in, fee out, refund out.
    code, body = wxpay.fundflow_bill(bill_date=bill_day, account_type="OPERATION")
    assert code == 200, body
    flow = read_bill(wxpay, json.loads(body)).splitlines()
    assert flow[0].startswith("记账时间,微信支付业务单号,资金流水单号,业务名称")
    names = [line.split(",")[3].lstrip("`") for line in flow[1:-2] if no in line]
    assert names == ["交易", "手续费", "手续费", "退款"]
    code, body = wxpay.fundflow_bill(bill_date=bill_day, account_type="FEES")
    assert code == 400 and json.loads(body)["detail"]["field"] == "account_type"

    # The next day, the settled funds arrive in BASIC and are paid out.
    koudai.advance(24 * 3600)
    settle_day = koudai.business_date()
    prev = subprocess.run(["date", "-d", settle_day + " -1 day", "+%F"], capture_output=True, text=True).stdout.strip()
    code, body = wxpay.fundflow_bill(bill_date=prev, account_type="BASIC")
    assert code == 200, body
    basic = read_bill(wxpay, json.loads(body)).splitlines()
    kinds = [line.split(",")[4].lstrip("`") for line in basic[1:-2]]
    assert "结算入账" in kinds and "提现到银行账户" in kinds

    # Bills are signed requests with unsigned files; an unknown token is a 404.
    code, body = wxpay.download_bill(koudai.base_url + "/v3/billdownload/file?token=nope")
    assert code == 404
    koudai.verify()


def test_payments_need_the_deposit(koudai, tmp_path):
    made = koudai.cli("admin", "merchant-create", "--name", "New Shop", "--out-dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    m = json.loads(made.stdout)
    app = koudai.cli("admin", "app-create", "--name", "New Shop App", "--mchid", m["mchid"])
    appid = json.loads(app.stdout)["appid"]
    wxpay = WeChatPay(
        wechatpay_type=WeChatPayType.NATIVE,
        mchid=m["mchid"],
        private_key=(tmp_path / f"{m['mchid']}_apiclient_key.pem").read_text(),
        cert_serial_no=m["serial_no"],
        appid=appid,
        apiv3_key=m["apiv3_key"],
        notify_url="https://example.invalid/notify",
        public_key=open(koudai.path(koudai.demo["platform"]["public_key_path"])).read(),
        public_key_id=koudai.demo["platform"]["public_key_id"],
    )
    wxpay._core._gate_way = koudai.base_url
    code, body = wxpay.pay(description="x", out_trade_no=new_out_trade_no(), amount={"total": 100})
    assert code == 403, body
    err = json.loads(body)
    assert err["code"] == "NO_AUTH" and "保证金" in err["message"] and "50000.00" in err["message"]

    paid = koudai.cli("admin", "deposit-pay", "--mchid", m["mchid"])
    assert paid.returncode == 0 and json.loads(paid.stdout)["deposit_fen"] == 5_000_000, paid.stderr
    assert wxpay.pay(description="x", out_trade_no=new_out_trade_no(), amount={"total": 100})[0] == 200

    # Rule 711 (online media, 1%, T+7) caps single payments at 3,000 CNY.
    ruled = koudai.cli("admin", "fee-rule", "--mchid", m["mchid"], "--rule", "711")
    assert json.loads(ruled.stdout)["rate"] == "1.00%", ruled.stderr
    code, body = wxpay.pay(description="x", out_trade_no=new_out_trade_no(), amount={"total": 300_001})
    assert code == 403 and json.loads(body)["code"] == "RULE_LIMIT"
    positions = json.loads(koudai.cli("ledger", "positions").stdout)
    assert sum(positions.values()) == 0 and positions["merchant_deposit"] >= 3 * 5_000_000


@pytest.mark.parametrize("backend", backends())
def test_verify_names_a_corrupted_ledger(backend):
    koudai = Koudai(backend).start()
    try:
        wxpay = koudai.sdk("public_key")
        paid_order(koudai, wxpay, 250)
        koudai.stop()
        assert "ledger verified" in koudai.verify().stdout
        tamper = "UPDATE ledger_accounts SET balance_fen = balance_fen + 1 WHERE kind = 'merchant_pending'"
        if koudai.database_url:
            subprocess.run(["psql", koudai.database_url, "-qc", tamper], check=True)
        else:
            db = sqlite3.connect(koudai.data_dir / "koudai.db")
            db.execute(tamper)
            db.commit()
            db.close()
        broken = koudai.cli("ledger", "verify")
        assert broken.returncode != 0
        assert "merchant_pending:" in broken.stdout and "postings sum to" in broken.stdout, broken.stdout
    finally:
        koudai.base_url = None  # cleanup must not expect a clean ledger
        koudai.cleanup()
