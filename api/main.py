"""The ASGI app, `api.main:app`: builds the FastAPI app and includes the routers."""

from __future__ import annotations

from fastapi import FastAPI

from api.routes import health

app = FastAPI(
    title="Nautilus Streams",
    description="Trading analytics from the Nautilus Streams pipeline.",
    version="0.1.0",
)
app.include_router(health.router)
