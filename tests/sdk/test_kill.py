"""kill -9 at any moment under load: nothing lost, nothing doubled.

Ten times, two clients place and pay orders as fast as they can while the
server is killed with SIGKILL at a random moment and started again. Then:
`ledger verify` is clean, every order the server says is paid was debited
from the wallet exactly once, and every paid order's callback arrives.
"""
import json
import random
import threading
import time

import pytest
import requests

from conftest import Koudai, Receiver, backends, new_out_trade_no, wait_for

KILLS = 10
# Orders per client and round: enough to be mid-flight when the kill comes,
# few enough to check them all afterwards in seconds.
PER_ROUND = 12


def load(koudai, wxpay, placed, stop):
    for _ in range(PER_ROUND):
        if stop.is_set():
            return
        no = new_out_trade_no()
        # Whatever happens next, whether this order exists and is paid is
        # for the server to say after the restart.
        placed.append(no)
        try:
            code, text = wxpay.pay(description="kill test", out_trade_no=no, amount={"total": 7})
            if code == 200:
                koudai.pay("alice", code_url=json.loads(text)["code_url"])
        except (requests.RequestException, OSError, ValueError):
            # The server died under us.
            time.sleep(0.05)


@pytest.mark.parametrize("backend", backends())
def test_kill_9_under_load_loses_and_doubles_nothing(backend):
    koudai = Koudai(backend).start()
    receiver = Receiver()
    random.seed(7)
    try:
        wxpay = koudai.sdk("public_key", notify_url=receiver.url)
        start_balance = koudai.consumer("alice")["balance_fen"]
        placed = []
        for _ in range(KILLS):
            stop = threading.Event()
            workers = [threading.Thread(target=load, args=(koudai, wxpay, placed, stop)) for _ in range(2)]
            for w in workers:
                w.start()
            time.sleep(random.uniform(0.2, 0.8))
            koudai.proc.kill()
            koudai.proc.wait(timeout=10)
            stop.set()
            for w in workers:
                w.join(timeout=30)
            koudai.proc = None
            koudai.start()
            wxpay._core._gate_way = koudai.base_url

        paid = []
        for no in placed:
            code, text = wxpay.query(out_trade_no=no)
            if code == 200 and json.loads(text)["trade_state"] == "SUCCESS":
                paid.append(no)
        assert paid, "some orders were paid"

        # Paid exactly once: the wallets hold what was loaded minus one
        # debit per paid order.
        positions = koudai.cli("ledger", "positions")
        assert positions.returncode == 0, positions.stderr
        wallets = json.loads(positions.stdout)["consumer_wallet"]
        others = sum(c["balance_fen"] for c in koudai.demo["consumers"] if c["login"] != "alice")
        assert wallets == start_balance + others - 7 * len(paid)

        verify = koudai.cli("ledger", "verify")
        assert verify.returncode == 0, verify.stdout + verify.stderr

        # Every paid order's callback arrives (retries run on the business
        # clock: move it past the first steps of the schedule; claims of the
        # killed processes come back when their 15 s leases end).
        koudai.advance(60)

        def all_delivered():
            statuses = [n["status"] for no in paid for n in koudai.notifications(no)]
            return len(statuses) >= len(paid) and all(s == "DELIVERED" for s in statuses)

        assert wait_for(all_delivered, timeout=60), "every paid order's callback is delivered"
    finally:
        receiver.close()
        if koudai.proc:
            koudai.stop()
        koudai.cleanup()
