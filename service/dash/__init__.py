"""The dashboard, served by the gateway at ``/dash``: server-rendered pages.

Sign in with an API token (:mod:`.sessions`); then the workflows with their
counts and runs over time, a workflow's instances page by page, and an
instance with its step timeline, its place on the workflow diagram and its
actions (:mod:`.views`, :mod:`.actions`). It reads through the gateway's
transport, like the REST API, and ships its templates and assets in the
package (no JavaScript build).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from . import actions, signin, stream, views
from .pages import HERE


def install(app: FastAPI) -> None:
    """Add the dashboard's routes and its static assets to the gateway ``app``."""
    app.include_router(signin.router)
    app.include_router(views.router)
    app.include_router(actions.router)
    app.include_router(stream.router)
    app.mount("/dash/static", StaticFiles(directory=HERE / "static"), name="dash-static")
