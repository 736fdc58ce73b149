"""Callbacks survive a restart of `koudai serve`: the outbox is durable."""
import json
import socket

from conftest import Koudai, Receiver, backends, new_out_trade_no, wait_for

import pytest


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("backend", backends())
def test_callback_is_delivered_after_a_restart(backend):
    port = free_port()
    koudai = Koudai(backend).start()
    receiver = None
    try:
        wxpay = koudai.sdk("public_key", notify_url=f"http://127.0.0.1:{port}/notify")
        out_trade_no = new_out_trade_no()
        code, text = wxpay.pay(description="Restart", out_trade_no=out_trade_no, amount={"total": 42})
        assert code == 200, text
        assert koudai.pay("alice", code_url=json.loads(text)["code_url"]).status_code == 200
        # The receiver is down: the first attempt fails and is recorded.
        attempts = wait_for(lambda: (koudai.notifications(out_trade_no) or [{}])[0].get("attempts"))
        assert attempts[0]["http_status"] is None and attempts[0]["error"]

        koudai.stop()
        receiver = Receiver(port=port)
        koudai.start()
        koudai.advance(15)
        headers, body = receiver.next()
        wxpay = koudai.sdk("public_key", notify_url=receiver.url)
        assert wxpay.callback(headers, body)["resource"]["out_trade_no"] == out_trade_no
        n = wait_for(lambda: [x for x in koudai.notifications(out_trade_no) if x["status"] == "DELIVERED"])[0]
        assert len(n["attempts"]) == 2
    finally:
        if receiver:
            receiver.close()
        koudai.cleanup()
