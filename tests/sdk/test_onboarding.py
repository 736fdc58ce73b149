"""Sub-merchant onboarding with the unmodified wechatpayv3 SDK in partner
mode, both key modes: images uploaded, an application with every sensitive
field encrypted by the SDK's own helper, queried by both keys, rejected with
audit_detail, resubmitted, approved, signed (sandbox API), FINISHED with a
sub_mchid that takes a partner payment once its deposit is paid."""
import base64
import json
import secrets
import zlib
import struct

import pytest

from conftest import new_out_trade_no

KINDS = ["official", "third_party"]


def png(width=8, height=8, rgb=(200, 40, 40)):
    """A real PNG (so browsers render it), solid colour."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def id_number(seed):
    """A resident identity number with a valid check digit."""
    body = "110105" + "19880214" + f"{seed % 1000:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]
    return body + check


def upload(wxpay, tmp_path, name, colour):
    path = tmp_path / name
    path.write_bytes(png(rgb=colour))
    code, text = wxpay.image_upload(str(path))
    assert code == 200, text
    return json.loads(text)["media_id"]


def application(media, seed, shortname="小面馆"):
    license_number = "91440300" + f"{seed:010d}"[-10:]
    return dict(
        contact_info={"contact_type": "LEGAL", "contact_name": "张三", "contact_id_number": id_number(seed),
                      "mobile_phone": "138" + f"{seed:08d}"[-8:], "contact_email": f"owner{seed}@example.com"},
        subject_info={
            "subject_type": "SUBJECT_TYPE_ENTERPRISE",
            "business_license_info": {"license_copy": media["license"], "license_number": license_number,
                                      "merchant_name": f"深圳市测试餐饮有限公司{seed}", "legal_person": "张三"},
            "identity_info": {"id_doc_type": "IDENTIFICATION_TYPE_IDCARD", "owner": True,
                              "id_card_info": {"id_card_copy": media["front"], "id_card_national": media["back"],
                                               "id_card_name": "张三", "id_card_number": id_number(seed),
                                               "id_card_address": "广东省深圳市南山区科技园",
                                               "card_period_begin": "2019-06-06", "card_period_end": "长期"}},
        },
        business_info={"merchant_shortname": shortname, "service_phone": "0755-86013388",
                       "sales_info": {"sales_scenes_type": ["SALES_SCENES_STORE", "SALES_SCENES_MP"]}},
        settlement_info={"settlement_id": "716", "qualification_type": "餐饮"},
        bank_account_info={"bank_account_type": "BANK_ACCOUNT_TYPE_CORPORATE", "account_name": f"深圳市测试餐饮有限公司{seed}",
                           "account_bank": "工商银行", "bank_address_code": "440300",
                           "account_number": "6222" + f"{seed:014d}"[-14:]},
    )


def query(wxpay, **key):
    code, text = wxpay.applyment_query(**key)
    assert code == 200, text
    return json.loads(text)


@pytest.mark.parametrize("kind", KINDS)
def test_an_application_goes_from_submit_to_a_sub_merchant_that_takes_payments(koudai, tmp_path, kind):
    wxpay = koudai.provider_sdk(kind)
    seed = secrets.randbelow(10**9)
    media = {n: upload(wxpay, tmp_path, f"{n}.png", c) for n, c in
             (("license", (10, 10, 200)), ("front", (10, 200, 10)), ("back", (200, 10, 10)))}
    business_code = f"{koudai.provider(kind)['sp_mchid']}_{seed}"
    a = application(media, seed)
    code, text = wxpay.applyment_submit(business_code=business_code, **json.loads(json.dumps(a)))
    assert code == 200, text
    applyment_id = json.loads(text)["applyment_id"]
    assert isinstance(applyment_id, int), "applyment_id is a JSON number"

    by_code, by_id = query(wxpay, business_code=business_code), query(wxpay, applyment_id=applyment_id)
    assert by_code == by_id
    assert by_code["applyment_state"] == "APPLYMENT_STATE_AUDITING" and by_code["applyment_state_msg"] == "审核中"
    assert "sub_mchid" not in by_code

    # The operator rejects a field; the provider sees why.
    r = koudai.sandbox("POST", f"/sandbox/v1/applyments/{applyment_id}/audit",
                       json={"decision": "reject", "fields": [{"field": "subject_info.business_license_info.license_copy",
                                                               "reason": "营业执照照片模糊"}]})
    assert r.status_code == 200, r.text
    assert r.json() == {"applyment_id": applyment_id, "applyment_state": "APPLYMENT_STATE_REJECTED"}
    rejected = query(wxpay, applyment_id=applyment_id)
    assert rejected["applyment_state"] == "APPLYMENT_STATE_REJECTED"
    assert rejected["audit_detail"] == [{"field": "license_copy", "field_name": "营业执照照片", "reject_reason": "营业执照照片模糊"}]
    # A rejected application cannot be approved.
    r = koudai.sandbox("POST", f"/sandbox/v1/applyments/{applyment_id}/audit", json={"decision": "approve"})
    assert r.status_code == 409, r.text

    # Resubmitted with the same business_code and a clearer licence.
    a["subject_info"]["business_license_info"]["license_copy"] = upload(wxpay, tmp_path, "license2.png", (0, 0, 255))
    code, text = wxpay.applyment_submit(business_code=business_code, **json.loads(json.dumps(a)))
    assert code == 200, text
    assert json.loads(text)["applyment_id"] == applyment_id
    assert query(wxpay, business_code=business_code)["applyment_state"] == "APPLYMENT_STATE_AUDITING"
    # While it is audited, the same code with other content is refused.
    other = json.loads(json.dumps(a))
    other["business_info"]["merchant_shortname"] = "改名"
    code, text = wxpay.applyment_submit(business_code=business_code, **other)
    assert code == 400 and json.loads(text)["code"] == "INVALID_REQUEST", text

    r = koudai.sandbox("POST", f"/sandbox/v1/applyments/{applyment_id}/audit", json={"decision": "approve"})
    assert r.json()["applyment_state"] == "APPLYMENT_STATE_TO_BE_CONFIRMED", r.text
    approved = query(wxpay, applyment_id=applyment_id)
    assert approved["sign_url"].startswith(koudai.base_url + "/sign/applyment?applymentId=")
    r = koudai.sandbox("POST", f"/sandbox/v1/applyments/{applyment_id}/sign")
    assert r.json()["applyment_state"] == "APPLYMENT_STATE_SIGNING", r.text
    signing = query(wxpay, applyment_id=applyment_id)
    sub_mchid = signing["sub_mchid"]
    koudai.advance(1801)
    finished = query(wxpay, applyment_id=applyment_id)
    assert finished["applyment_state"] == "APPLYMENT_STATE_FINISHED" and finished["sub_mchid"] == sub_mchid

    # The new sub-merchant takes a partner payment once its deposit is paid.
    pay = dict(description="First bowl", amount={"total": 1800}, sub_mchid=sub_mchid)
    code, text = wxpay.pay(out_trade_no=new_out_trade_no(), **pay)
    assert code == 403 and "保证金" in json.loads(text)["message"], text
    r = koudai.sandbox("POST", "/sandbox/v1/deposits", json={"mchid": sub_mchid})
    assert r.status_code == 200 and r.json()["held_fen"] == 5_000_000, r.text
    no = new_out_trade_no()
    code, text = wxpay.pay(out_trade_no=no, **pay)
    assert code == 200, text
    r = koudai.pay("alice", code_url=json.loads(text)["code_url"])
    assert r.status_code == 200, r.text
    code, text = wxpay.query(out_trade_no=no, sub_mchid=sub_mchid)
    assert json.loads(text)["trade_state"] == "SUCCESS"


def test_the_same_licence_in_another_live_application_is_rejected_at_once(koudai, tmp_path):
    wxpay = koudai.provider_sdk("official")
    seed = secrets.randbelow(10**9)
    media = {n: upload(wxpay, tmp_path, f"{n}.png", (1, 2, 3)) for n in ("license", "front", "back")}
    a = application(media, seed)
    code, text = wxpay.applyment_submit(business_code=f"DUP_A_{seed}", **json.loads(json.dumps(a)))
    assert code == 200, text
    b = application(media, seed)
    b["bank_account_info"]["account_number"] = "6222" + f"{seed + 1:014d}"[-14:]
    code, text = wxpay.applyment_submit(business_code=f"DUP_B_{seed}", **json.loads(json.dumps(b)))
    assert code == 200, text
    dup = query(wxpay, business_code=f"DUP_B_{seed}")
    assert dup["applyment_state"] == "APPLYMENT_STATE_REJECTED"
    assert dup["audit_detail"][0]["field"] == "license_number", dup


def test_sensitive_fields_must_be_ciphertexts_of_the_platform_key(koudai, tmp_path):
    wxpay = koudai.provider_sdk("third_party")
    seed = secrets.randbelow(10**9)
    media = {n: upload(wxpay, tmp_path, f"{n}.png", (9, 9, 9)) for n in ("license", "front", "back")}
    a = application(media, seed)
    # The SDK encrypts; a plain value put where a ciphertext belongs is refused.
    body = dict(business_code=f"PLAIN_{seed}", **a)
    body["contact_info"] = dict(a["contact_info"], contact_name=wxpay._core.encrypt("张三"),
                                contact_id_number=wxpay._core.encrypt(id_number(seed)),
                                mobile_phone="13800138000", contact_email=wxpay._core.encrypt("a@example.com"))
    for k in ("id_card_name", "id_card_number", "id_card_address"):
        body["subject_info"]["identity_info"]["id_card_info"][k] = wxpay._core.encrypt(a["subject_info"]["identity_info"]["id_card_info"][k])
    for k in ("account_name", "account_number"):
        body["bank_account_info"][k] = wxpay._core.encrypt(a["bank_account_info"][k])
    code, text = wxpay._core.request("/v3/applyment4sub/applyment/", method=__import__("wechatpayv3").type.RequestType.POST,
                                     data=body, cipher_data=True)
    assert code == 400, text
    err = json.loads(text)
    assert err["code"] == "PARAM_ERROR" and err["detail"]["field"] == "contact_info.mobile_phone", err
