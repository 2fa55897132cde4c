"""A loan-application scoring service on FastAPI (example; needs ``fraudscore[service,redis]``).

Each worker process loads the bundle once at startup and keeps one
:class:`fraudscore.Scorer`. With ``FRAUDSCORE_REDIS_URL`` set, velocity state
and device links live in Redis, so any number of workers (``uvicorn --workers
N``) and hosts see the same counts. Without it, each worker keeps its own
in-memory state, which is only right for a single worker.

Configuration (environment variables):

``FRAUDSCORE_BUNDLE``
    Bundle directory or zip (required).
``FRAUDSCORE_KEY``
    The secret key the bundle was built with (required; never logged).
``FRAUDSCORE_REDIS_URL``
    e.g. ``redis://127.0.0.1:6379/0``; optional.
``FRAUDSCORE_REDIS_PREFIX``
    Key prefix in Redis (default ``fs:``); one per bundle family / tenant.

Endpoints: ``POST /applications`` (``?features=1`` adds the feature values),
``POST /labels``, ``GET /health``, ``GET /metrics`` (Prometheus text format).
Run: ``uvicorn app:app --app-dir docs/examples/loan_service --workers 2``.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Body, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

import fraudscore as fs
from fraudscore.errors import EventError, FraudscoreError, StoreError

__all__ = ["app", "create_app", "scorer_from_env", "Metrics"]

LATENCY_WINDOW = 2048  # latencies kept for the summary's quantiles


def scorer_from_env(env: Mapping[str, str] = os.environ) -> fs.Scorer:
    """Load the bundle named by ``FRAUDSCORE_BUNDLE`` with a Redis or memory store."""
    path = env.get("FRAUDSCORE_BUNDLE")
    if not path:
        raise RuntimeError("set FRAUDSCORE_BUNDLE to a bundle directory or zip")
    store = None
    url = env.get("FRAUDSCORE_REDIS_URL")
    if url:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        store = fs.RedisStore(client, prefix=env.get("FRAUDSCORE_REDIS_PREFIX", "fs:"))
    return fs.load(path, key=env.get("FRAUDSCORE_KEY"), store=store)


class Metrics:
    """Per-process counters and a latency summary, rendered in Prometheus text format.

    Each worker process answers ``/metrics`` with its own numbers, labelled
    with its pid; Prometheus adds them up across scrapes of every worker (or
    use prometheus-client's multiprocess mode in a real deployment).
    """

    def __init__(self) -> None:
        self.decisions: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.labels = 0
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.latency_sum = 0.0
        self.latency_count = 0
        self._lock = threading.Lock()

    def observe(self, action: str | None, seconds: float, error: str | None = None) -> None:
        """Count one request: its action (or error kind) and its latency."""
        with self._lock:
            if error is None and action is not None:
                self.decisions[action] += 1
            if error is not None:
                self.errors[error] += 1
            self.latencies.append(seconds)
            self.latency_sum += seconds
            self.latency_count += 1

    def count_label(self) -> None:
        """Count one recorded label."""
        with self._lock:
            self.labels += 1

    def render(self) -> str:
        """The Prometheus text exposition (format 0.0.4)."""
        pid = os.getpid()
        with self._lock:
            lat = sorted(self.latencies)
            lines = [
                "# HELP fraudscore_decisions_total Decisions returned, by action.",
                "# TYPE fraudscore_decisions_total counter",
            ]
            for action in ("approve", "review", "decline"):
                lines.append(f'fraudscore_decisions_total{{action="{action}",worker="{pid}"}} '
                             f"{self.decisions[action]}")
            lines += ["# HELP fraudscore_errors_total Requests that failed, by kind.",
                      "# TYPE fraudscore_errors_total counter"]
            for kind in ("invalid_event", "store_unavailable", "internal"):
                lines.append(f'fraudscore_errors_total{{kind="{kind}",worker="{pid}"}} {self.errors[kind]}')
            lines += ["# HELP fraudscore_labels_total Labels recorded.",
                      "# TYPE fraudscore_labels_total counter",
                      f'fraudscore_labels_total{{worker="{pid}"}} {self.labels}',
                      "# HELP fraudscore_score_latency_seconds Scoring latency inside the service "
                      f"(quantiles over the last {LATENCY_WINDOW} requests).",
                      "# TYPE fraudscore_score_latency_seconds summary"]
            for q in (0.5, 0.9, 0.99):
                value = lat[min(len(lat) - 1, int(q * len(lat)))] if lat else math.nan
                lines.append(f'fraudscore_score_latency_seconds{{quantile="{q}",worker="{pid}"}} {value:.6g}')
            lines += [f'fraudscore_score_latency_seconds_sum{{worker="{pid}"}} {self.latency_sum:.6g}',
                      f'fraudscore_score_latency_seconds_count{{worker="{pid}"}} {self.latency_count}']
        return "\n".join(lines) + "\n"


def _plain(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities (missing features) become ``null``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def create_app(scorer: fs.Scorer | None = None) -> FastAPI:
    """Build the service; without ``scorer`` it is loaded from the environment at startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.scorer = scorer if scorer is not None else scorer_from_env()
        app.state.metrics = Metrics()
        yield

    app = FastAPI(title="fraudscore loan service", lifespan=lifespan)

    def _headers() -> dict[str, str]:
        return {"X-Worker": str(os.getpid())}

    @app.post("/applications")
    def score_application(request: Request, event: dict[str, Any] = Body(...),  # noqa: B008
                          features: bool = False) -> JSONResponse:
        """Score one application; the body is the event as JSON."""
        sc: fs.Scorer = request.app.state.scorer
        metrics: Metrics = request.app.state.metrics
        t0 = time.perf_counter()
        try:
            decision = sc.score(event, return_features=features)
        except EventError as err:  # the message names the field and the value's type, never the value
            metrics.observe(None, time.perf_counter() - t0, "invalid_event")
            return JSONResponse({"error": "invalid_event", "field": err.field, "message": str(err)},
                                status_code=422, headers=_headers())
        except StoreError:
            metrics.observe(None, time.perf_counter() - t0, "store_unavailable")
            return JSONResponse({"error": "store_unavailable", "message": "velocity store unavailable"},
                                status_code=503, headers=_headers())
        except FraudscoreError as err:
            metrics.observe(None, time.perf_counter() - t0, "internal")
            return JSONResponse({"error": type(err).__name__, "message": str(err)},
                                status_code=500, headers=_headers())
        metrics.observe(decision.action, time.perf_counter() - t0)
        return JSONResponse(_plain(decision.to_dict()), headers=_headers())

    @app.post("/labels")
    def record_label(request: Request, label: dict[str, Any] = Body(...)) -> JSONResponse:  # noqa: B008
        """Record a confirmed outcome: ``{"application_id", "is_fraud", "label_time"}``."""
        missing = [k for k in ("application_id", "is_fraud", "label_time") if k not in label]
        if missing:
            return JSONResponse({"error": "invalid_label", "field": missing[0],
                                 "message": f"field {missing[0]!r}: is required"},
                                status_code=422, headers=_headers())
        try:
            request.app.state.scorer.record_label(str(label["application_id"]), bool(label["is_fraud"]),
                                                  label["label_time"])
        except (EventError, ValueError, TypeError) as err:
            return JSONResponse({"error": "invalid_label", "field": getattr(err, "field", "label_time"),
                                 "message": str(err)}, status_code=422, headers=_headers())
        except StoreError:
            return JSONResponse({"error": "store_unavailable", "message": "velocity store unavailable"},
                                status_code=503, headers=_headers())
        request.app.state.metrics.count_label()
        return JSONResponse({"recorded": True}, headers=_headers())

    @app.get("/health")
    def health(request: Request) -> JSONResponse:
        """Liveness and readiness: the bundle is loaded and the store answers."""
        sc: fs.Scorer = request.app.state.scorer
        body = {"status": "ok", "worker": os.getpid(), "model_version": sc.model_version,
                "ruleset_version": sc.ruleset.version, "store": type(sc.store).__name__}
        if isinstance(sc.store, fs.RedisStore):
            try:
                sc.store.client.ping()
            except Exception:  # any redis-py error: not ready
                body["status"] = "store_unavailable"
                return JSONResponse(body, status_code=503, headers=_headers())
        return JSONResponse(body, headers=_headers())

    @app.get("/metrics")
    def metrics(request: Request) -> PlainTextResponse:
        """Prometheus metrics of this worker process."""
        return PlainTextResponse(request.app.state.metrics.render(), headers=_headers(),
                                 media_type="text/plain; version=0.0.4")

    return app


app = create_app()
