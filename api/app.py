"""The JSON API at /api/v1. Endpoints arrive with the issues that need them (quote, orders)."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from schema.workflows import Workflow

API_VERSION = "1"


def create_api(factory: sessionmaker[Session]) -> FastAPI:
    api = FastAPI(
        title="Postdesk API",
        version=API_VERSION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )

    @api.get("/status", summary="Service status and schema summary")
    def status() -> dict[str, object]:
        with factory() as session:
            workflows = session.scalar(select(func.count()).select_from(Workflow))
        return {"status": "ok", "api_version": API_VERSION, "workflows": workflows or 0}

    return api
