"""The anchor of bench_webhooks.py: a bare FastAPI endpoint returning {}."""

from __future__ import annotations

from fastapi import FastAPI

# the API's app-wide setting (pyworker.api.app): no OpenTelemetry lookups per request
app = FastAPI(
    telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
)


@app.post("/api/webhook/stripe")
async def bare() -> dict[str, str]:
    return {}
