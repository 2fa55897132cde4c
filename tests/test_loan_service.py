"""The example loan service (docs/examples/loan_service): in process, then as 2 uvicorn workers on Redis."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import fraudscore as fs
from fraudscore.synth import generate

pytest.importorskip("fastapi", reason="the service extra is not installed (pip install 'fraudscore[service]')")
httpx = pytest.importorskip("httpx", reason="the service extra is not installed (pip install 'fraudscore[service]')")

pytestmark = pytest.mark.filterwarnings("ignore:Using .httpx. with .starlette.testclient. is deprecated")

SERVICE_DIR = Path(__file__).resolve().parents[1] / "docs" / "examples" / "loan_service"
SECRET = "loan-service-test-secret-0123456789"
REDIS_URL = os.environ.get("FRAUDSCORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
FEATURE = "distinct__applicant_id__by__device_id__24h"
T0 = 1_796_000_000_000  # 2026-12-01, after the training data
DEVICE = {"os": "android", "os_version": "13", "model": "SM-G991B", "manufacturer": "samsung",
          "app_version": "5.2.0", "android_id": "9774d56d682e549c", "screen": "1080x2400",
          "timezone": "Asia/Shanghai", "languages": ["zh-CN"]}


def _service_module():
    spec = importlib.util.spec_from_file_location("loan_service_app", SERVICE_DIR / "app.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = generate(n_days=14, per_day=300, seed=3)
    result = fs.train(data.columns, data.labels, key=SECRET, config={"model": {"num_threads": 1}})
    return result.save(tmp_path_factory.mktemp("loan_service") / "bundle")


def application(i: int, **extra: object) -> dict[str, object]:
    return {"application_id": f"LS{i}", "ts": T0 + i * 1000, "applicant_id": f"3101011990010{i:05d}",
            "phone": f"+86138{i:08d}", "ip": "203.0.113.9", "device": DEVICE, "amount": 3000,
            "term_months": 6, "channel": "app", **extra}


# -- in process (memory store) ------------------------------------------------------------
@pytest.fixture(scope="module")
def client(bundle_path: Path):
    from fastapi.testclient import TestClient

    mod = _service_module()
    app = mod.create_app(fs.load(str(bundle_path), key=SECRET))
    with TestClient(app) as c:
        yield c


def test_scores_an_application_and_returns_the_decision(client):
    r = client.post("/applications", json=application(1))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["application_id"] == "LS1"
    assert body["action"] in ("approve", "review", "decline") and 0 <= body["score"] <= 1000
    assert body["features"] is None and r.headers["X-Worker"] == str(os.getpid())
    r = client.post("/applications?features=1", json=application(2))
    assert r.json()["features"][FEATURE] == 2.0  # same device, second applicant


def test_malformed_application_gets_422_naming_the_field(client):
    r = client.post("/applications", json=application(3, term_months=6.5))
    assert r.status_code == 422
    assert r.json()["field"] == "term_months" and "whole number" in r.json()["message"]
    r = client.post("/applications", json={"ts": T0})
    assert r.status_code == 422 and r.json()["field"] == "application_id"


def test_labels_health_and_metrics(client):
    assert client.post("/labels", json={"application_id": "LS1", "is_fraud": True,
                                        "label_time": "2026-12-02"}).json() == {"recorded": True}
    r = client.post("/labels", json={"application_id": "LS1"})
    assert r.status_code == 422 and r.json()["field"] == "is_fraud"
    assert client.get("/health").json()["status"] == "ok"
    text = client.get("/metrics").text
    assert "# TYPE fraudscore_decisions_total counter" in text
    assert 'fraudscore_errors_total{kind="invalid_event"' in text
    decided = sum(int(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                  if line.startswith("fraudscore_decisions_total{"))
    assert decided >= 2
    assert "fraudscore_score_latency_seconds_count" in text and 'quantile="0.99"' in text


# -- two uvicorn workers sharing Redis ------------------------------------------------------
@pytest.fixture
def redis_prefix():
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=1)
        client.ping()
    except Exception as exc:  # ImportError, ConnectionError...
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but no Redis server reachable at {REDIS_URL}: {exc}")
        pytest.skip(f"no Redis server reachable at {REDIS_URL} (set FRAUDSCORE_TEST_REDIS_URL)")
    prefix = f"fstest:loan_service:{uuid.uuid4().hex}:"
    yield prefix
    for key in client.scan_iter(match=prefix + "*", count=1000):
        client.delete(key)
    client.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.redis
@pytest.mark.slow
def test_two_workers_share_velocity_state_through_redis(bundle_path, redis_prefix, tmp_path):
    port = _free_port()
    env = {**os.environ, "FRAUDSCORE_BUNDLE": str(bundle_path), "FRAUDSCORE_KEY": SECRET,
           "FRAUDSCORE_REDIS_URL": REDIS_URL, "FRAUDSCORE_REDIS_PREFIX": redis_prefix}
    log = open(tmp_path / "uvicorn.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--app-dir", str(SERVICE_DIR), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "2", "--log-level", "warning"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def post(path: str, body: dict) -> httpx.Response:
        # a fresh connection per request, so the kernel hands requests to either worker
        return httpx.post(base + path, json=body, timeout=10.0, headers={"Connection": "close"})

    try:
        # wait (bounded) until both workers have loaded the bundle and answer
        ready: set[str] = set()
        deadline = time.monotonic() + 90
        while len(ready) < 2 and time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "uvicorn.log").read_text()
            try:
                r = httpx.get(base + "/health", timeout=5.0, headers={"Connection": "close"})
                if r.status_code == 200:
                    ready.add(r.headers["X-Worker"])
            except httpx.TransportError:
                time.sleep(0.2)
        assert ready, "the service did not start: " + (tmp_path / "uvicorn.log").read_text()

        # a burst of applications from one device, 20 different applicants; more if one worker took all
        workers: set[str] = set()
        decisions = []
        i = 0
        while i < 20 or (len(workers) < 2 and i < 200):
            r = post("/applications?features=1", application(i))
            assert r.status_code == 200, r.text
            workers.add(r.headers["X-Worker"])
            decisions.append(r.json())
            i += 1
        assert len(workers) >= 2, "every request went to one worker"
        counts = [d["features"][FEATURE] for d in decisions]
        assert counts == [float(k + 1) for k in range(len(decisions))], counts  # each saw all before it
        assert len({d["device_id"] for d in decisions}) == 1  # device links are shared too
        r = post("/applications", application(10_000, term_months="six"))
        assert r.status_code == 422 and r.json()["field"] == "term_months"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        log.close()
