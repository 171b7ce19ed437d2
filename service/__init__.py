"""The HTTP gateway (FastAPI): Cloudflare's Workflows REST API v4 in front of the engine."""

from .app import create_app

__all__ = ["create_app"]
