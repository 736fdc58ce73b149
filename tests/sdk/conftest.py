"""Fixtures for the SDK conformance suite.

The suite runs the real `koudai serve` binary on a random port, on SQLite and
(when TEST_DATABASE_URL is set) on PostgreSQL, and talks to it with the
unmodified `wechatpayv3` SDK, changing only its base URL.
"""
import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from wechatpayv3 import WeChatPay, WeChatPayType

ROOT = Path(__file__).resolve().parents[2]
KOUDAI = os.environ.get("KOUDAI_BIN", str(ROOT / "target" / "debug" / "koudai"))


def backends():
    out = ["sqlite"]
    if os.environ.get("TEST_DATABASE_URL"):
        out.append("postgres")
    return out


def scratch_postgres(admin_url):
    # The run id of scripts/test, or a dated one, so that clean-up finds it.
    run = os.environ.get("KOUDAI_TEST_RUN") or f"r{int(time.time())}xmanual"
    name = f"koudai_sdk_{run}_{secrets.token_hex(4)}"
    subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {name}"], check=True)
    return admin_url.rsplit("/", 1)[0] + "/" + name


class Koudai:
    """One `koudai serve` process over a data dir (and database) that outlives restarts."""

    def __init__(self, backend):
        self.data_dir = Path(tempfile.mkdtemp(prefix="koudai-sdk-"))
        self.database_url = None
        if backend == "postgres":
            self.database_url = scratch_postgres(os.environ["TEST_DATABASE_URL"])
        self.proc = None
        self.base_url = None
        # Extra environment for the server (e.g. a shared KOUDAI_MASTER_KEY).
        self.env = {}

    def start(self):
        cmd = [KOUDAI, "serve", "--data-dir", str(self.data_dir), "--listen", "127.0.0.1:0"]
        if self.database_url:
            cmd += ["--database-url", self.database_url]
        env = dict(os.environ, **self.env)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(self.data_dir / "server.log", "a"), text=True, env=env)
        line = self.proc.stdout.readline()
        assert line.startswith("koudai listening on "), f"server did not start: {line!r}, see {self.data_dir}/server.log"
        self.base_url = line.split()[-1]
        self.demo = json.loads((self.data_dir / "demo" / "demo.json").read_text())
        assert self.demo["base_url"] == self.base_url
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(timeout=20) == 0
        self.proc = None

    def path(self, rel):
        return str(self.data_dir / "demo" / rel)

    def merchant(self, key_mode):
        return next(m for m in self.demo["merchants"] if m["key_mode"] == key_mode)

    def consumer(self, login):
        return next(c for c in self.demo["consumers"] if c["login"] == login)

    def sdk(self, key_mode, notify_url="https://example.invalid/notify", wechatpay_type=WeChatPayType.NATIVE, private_key=None):
        """An unmodified wechatpayv3 client for a demo merchant; only the gateway changes."""
        m = self.merchant(key_mode)
        key = private_key or Path(self.path(m["private_key_path"])).read_text()
        kwargs = dict(
            wechatpay_type=wechatpay_type,
            mchid=m["mchid"],
            private_key=key,
            cert_serial_no=m["serial_no"],
            appid=m["appid"],
            apiv3_key=m["apiv3_key"],
            notify_url=notify_url,
        )
        if key_mode == "public_key":
            kwargs["public_key"] = Path(self.path(self.demo["platform"]["public_key_path"])).read_text()
            kwargs["public_key_id"] = self.demo["platform"]["public_key_id"]
        else:
            # Certificate mode loads the platform certificate from cert_dir at
            # construction (it would otherwise call the production host).
            kwargs["cert_dir"] = str(Path(self.path(self.demo["platform"]["certificate_path"])).parent)
        wxpay = WeChatPay(**kwargs)
        wxpay._core._gate_way = self.base_url
        return wxpay

    def provider(self, kind):
        return next(p for p in self.demo["providers"] if p["kind"] == kind)

    def provider_sdk(self, kind, notify_url="https://example.invalid/notify", wechatpay_type=WeChatPayType.NATIVE):
        """An unmodified wechatpayv3 client in partner mode for a demo provider."""
        p = self.provider(kind)
        kwargs = dict(
            wechatpay_type=wechatpay_type,
            mchid=p["sp_mchid"],
            private_key=Path(self.path(p["private_key_path"])).read_text(),
            cert_serial_no=p["serial_no"],
            appid=p["sp_appid"],
            apiv3_key=p["apiv3_key"],
            notify_url=notify_url,
            partner_mode=True,
        )
        if p["key_mode"] == "public_key":
            kwargs["public_key"] = Path(self.path(self.demo["platform"]["public_key_path"])).read_text()
            kwargs["public_key_id"] = self.demo["platform"]["public_key_id"]
        else:
            kwargs["cert_dir"] = str(Path(self.path(self.demo["platform"]["certificate_path"])).parent)
        wxpay = WeChatPay(**kwargs)
        wxpay._core._gate_way = self.base_url
        return wxpay

    def sandbox(self, method, path, **kwargs):
        headers = {"Authorization": "Bearer " + self.demo["sandbox_token"]}
        return requests.request(method, self.base_url + path, headers=headers, timeout=10, **kwargs)

    def pay(self, consumer, **ref):
        return self.sandbox("POST", "/sandbox/v1/pay", json={"consumer": consumer, **ref})

    def advance(self, seconds):
        r = self.sandbox("POST", "/sandbox/v1/clock/advance", json={"seconds": seconds})
        assert r.status_code == 200, r.text
        return r.json()

    def notifications(self, out_trade_no):
        r = self.sandbox("GET", "/sandbox/v1/notifications", params={"out_trade_no": out_trade_no})
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def cli(self, *args):
        """Runs `koudai <args>` on this server's data (the same flags as serve)."""
        cmd = [KOUDAI, *args, "--data-dir", str(self.data_dir)]
        if self.database_url:
            cmd += ["--database-url", self.database_url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    def clear_of_midnight(self, margin=180):
        """Moves the business clock past the next China midnight if it is
        less than `margin` seconds away, so a test that advances the clock
        a little does not cross a day boundary (where the day's settlement
        and payout move the merchant's money)."""
        r = self.sandbox("GET", "/sandbox/v1/clock")
        assert r.status_code == 200, r.text
        now = r.json()["business_unix"]
        to_midnight = 86400 - (now + 8 * 3600) % 86400
        if to_midnight < margin:
            self.advance(to_midnight + 5)

    def business_date(self):
        r = self.sandbox("GET", "/sandbox/v1/clock")
        assert r.status_code == 200, r.text
        return r.json()["business_time"][:10]

    def verify(self):
        """`koudai ledger verify` must pass on whatever the tests did."""
        done = self.cli("ledger", "verify")
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def cleanup(self):
        self.stop()
        if self.proc is None and self.base_url:
            self.verify()
        shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture(scope="module", params=backends())
def koudai(request):
    k = Koudai(request.param).start()
    yield k
    k.cleanup()


class Receiver:
    """A merchant's notify_url: records every callback, answers with `status`."""

    def __init__(self, port=0, status=200):
        self.calls = queue.Queue()
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.calls.put((dict(self.headers.items()), body.decode("utf-8")))
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"code":"SUCCESS","message":"ok"}' if outer.status < 300 else b'{"code":"FAIL","message":"no"}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next(self, timeout=15):
        return self.calls.get(timeout=timeout)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def wait_for(predicate, timeout=15, interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


# A wait that outlives a page turn: when a form posts and the next page
# replaces the document, chromedriver can answer a find with "Node with given
# id does not belong to the document" (a plain WebDriverException, not a stale
# element); the condition is simply tried again on the new page.
PAGE_TURNS = (WebDriverException,)


def new_out_trade_no():
    return "KD" + secrets.token_hex(8).upper()


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.fail("chromium and chromedriver are required (apt-get install chromium chromium-driver)")
    profile = tempfile.mkdtemp(prefix="koudai-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)
