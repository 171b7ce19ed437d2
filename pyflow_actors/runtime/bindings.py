"""An instance's workflow bindings (``self.env.CHILD``), built on first use.

A dedicated instance gets a binding for every workflow of the engine, and most
runs never call one; building them imported the client, its models and the
analytics and subscription shapes it names: ~30 ms of CPU per activation here
(``python -X importtime``, README: Performance). A :class:`LazyBinding` stands
in for the client's ``AsyncWorkflow`` and builds it when the workflow first
uses it (``create``, ``create_batch``, ``get``...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..client.api import AsyncWorkflow
    from ..client.transport import Transport


class SupervisorLink:
    """The one transport an instance's bindings share, made on first use."""

    def __init__(self, supervisor_name: str, namespace: str) -> None:
        self.supervisor_name, self.namespace = supervisor_name, namespace
        self._transport: Transport | None = None

    def transport(self) -> Transport:
        if self._transport is None:
            from ..client.ray_transport import RayTransport

            self._transport = RayTransport.lazy(self.supervisor_name, self.namespace)
        return self._transport


class LazyBinding:
    """A binding to ``workflow``; every attribute but its names is the client's."""

    def __init__(self, link: SupervisorLink, workflow: str, binding: str) -> None:
        self.name, self.binding = workflow, binding
        self._link = link
        self._built: AsyncWorkflow | None = None

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_"):  # never build on copy/pickle probes
            raise AttributeError(attribute)
        return getattr(self._workflow(), attribute)

    def _workflow(self) -> AsyncWorkflow:
        if self._built is None:
            from ..client.api import AsyncWorkflow

            self._built = AsyncWorkflow(self._link.transport(), self.name, self.binding)
        return self._built

    def __repr__(self) -> str:
        return f"<binding {self.binding} to workflow {self.name!r}>"


def lazy_bindings(
    bindings: dict[str, str], supervisor_name: str, namespace: str
) -> dict[str, LazyBinding]:
    """Binding name -> a binding to its workflow, none of them built yet."""
    link = SupervisorLink(supervisor_name, namespace)
    return {binding: LazyBinding(link, workflow, binding) for binding, workflow in bindings.items()}
