"""The anchor of bench_webhooks.py: a bare FastAPI endpoint returning {}."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.post("/api/webhook/stripe")
async def bare() -> dict[str, str]:
    return {}
