"""Two nodes on one PostgreSQL, started at the same instant on a fresh
database and then loaded together: one world, every callback delivered
exactly once, the business clock agreed, the ledger clean."""
import base64
import json
import os
import threading
import time

import pytest

from conftest import Koudai, Receiver, new_out_trade_no, wait_for

ORDERS = 24


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="needs PostgreSQL (TEST_DATABASE_URL)")
def test_two_nodes_started_together_share_one_world_and_send_each_callback_once():
    one = Koudai("postgres")
    two = Koudai("sqlite")
    two.database_url = one.database_url  # the same fresh database
    # Nodes of one installation share the master key that seals data at
    # rest (each data dir would otherwise make its own, and the second node
    # would refuse to start on a database sealed with the first one's).
    key = base64.b64encode(os.urandom(32)).decode()
    one.env = two.env = {"KOUDAI_MASTER_KEY": key}
    starters = [threading.Thread(target=node.start) for node in (one, two)]
    for s in starters:
        s.start()
    for s in starters:
        s.join(timeout=60)
    receiver = Receiver()
    try:
        logs = [(n.data_dir / "server.log").read_text() if (n.data_dir / "server.log").exists() else "" for n in (one, two)]
        assert one.base_url and two.base_url, f"both nodes started; logs: {[l[-1500:] for l in logs]}"
        assert [m["mchid"] for m in one.demo["merchants"]] == [m["mchid"] for m in two.demo["merchants"]]
        wx_one = one.sdk("public_key", notify_url=receiver.url)
        wx_two = two.sdk("public_key", notify_url=receiver.url)

        # Orders placed on either node and paid on the other, from two threads.
        def work(place, pay_on, count):
            for _ in range(count):
                code, text = place.pay(description="two nodes", out_trade_no=new_out_trade_no(), amount={"total": 3})
                assert code == 200, text
                assert pay_on.pay("alice", code_url=json.loads(text)["code_url"]).status_code == 200

        workers = [
            threading.Thread(target=work, args=(wx_one, two, ORDERS // 2)),
            threading.Thread(target=work, args=(wx_two, one, ORDERS // 2)),
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=120)

        events = []

        def all_arrived():
            while not receiver.calls.empty():
                _, body = receiver.calls.get_nowait()
                events.append(json.loads(body)["id"])
            return len(set(events)) >= ORDERS

        assert wait_for(all_arrived, timeout=60), f"{len(set(events))} of {ORDERS} callbacks arrived"
        time.sleep(2)  # a duplicate would arrive now
        all_arrived()
        assert len(events) == len(set(events)) == ORDERS, "each callback exactly once"

        # The clock moved on one node is the clock of the other within seconds.
        one.advance(3600)

        def agreed():
            offsets = [n.sandbox("GET", "/sandbox/v1/clock").json()["offset_seconds"] for n in (one, two)]
            return offsets[0] == offsets[1]

        assert wait_for(agreed, timeout=5), "the nodes agree on the business clock"
    finally:
        receiver.close()
        two.stop()
        one.cleanup()
        import shutil

        shutil.rmtree(two.data_dir, ignore_errors=True)
