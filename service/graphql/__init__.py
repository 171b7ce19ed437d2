"""The GraphQL Analytics API (Cloudflare's ``workflowsAdaptiveGroups`` and
``workflowsAdaptive`` datasets): schema (:mod:`.schema`), resolvers over the
client transport (:mod:`.resolvers`) and the route (:mod:`.route`)."""

from __future__ import annotations

from .route import router

__all__ = ["router"]
