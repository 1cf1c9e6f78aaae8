"""The anchor of bench_webhooks.py: a bare FastAPI endpoint returning {}."""

from __future__ import annotations

from fastapi import FastAPI

from pyworker.api.app import NO_TELEMETRY

app = FastAPI(telemetry=NO_TELEMETRY)  # the API's app-wide setting


@app.post("/api/webhook/stripe")
async def bare() -> dict[str, str]:
    return {}
