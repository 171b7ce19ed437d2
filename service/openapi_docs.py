"""What the OpenAPI document says that FastAPI cannot infer from the routes.

The routes read their JSON bodies themselves (``routers.read_request``: a size
limit before the read, a 400 rather than FastAPI's 422), so FastAPI does not
see them: :func:`json_body` declares each body in the document, where clients,
code generators and the fuzzer (schemathesis) find it. :func:`instance_links`
declares the OpenAPI links from a created instance to what can be done with it
(get, status, status edit, events, steps, logs, delete): the chains a stateful
fuzzer walks.

.. code-block:: python

    @router.post("", openapi_extra=json_body(CreateInstanceRequest))
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter

INSTANCE_PATH = "/client/v4/accounts/{account_id}/workflows/{workflow_name}/instances/{instance_id}"

# Link name -> (method, path under INSTANCE_PATH).
_INSTANCE_OPERATIONS: dict[str, tuple[str, str]] = {
    "GetInstance": ("get", ""),
    "GetInstanceStatus": ("get", "/status"),
    "EditInstanceStatus": ("patch", "/status"),
    "SendInstanceEvent": ("post", "/events/{event_type}"),
    "GetInstanceStep": ("get", "/step"),
    "GetInstanceLogs": ("get", "/logs"),
    "DeleteInstance": ("delete", ""),
}


def json_body(
    shape: type[BaseModel] | Any, *, description: str, required: bool = False
) -> dict[str, Any]:
    """``openapi_extra`` declaring a JSON request body of ``shape`` (a model or a type)."""
    schema = _inline_refs(TypeAdapter(shape).json_schema())
    return {
        "requestBody": {
            "description": description,
            "required": required,
            "content": {"application/json": {"schema": schema}},
        }
    }


def instance_links(id_pointer: str) -> dict[str, Any]:
    """OpenAPI links from a response holding an instance id at ``id_pointer``
    (``/result/id``) to the operations on that instance."""
    links = {}
    for name, (method, suffix) in _INSTANCE_OPERATIONS.items():
        pointer = (INSTANCE_PATH + suffix).replace("~", "~0").replace("/", "~1")
        links[name] = {
            "operationRef": f"#/paths/{pointer}/{method}",
            "parameters": {
                "path.account_id": "$request.path.account_id",
                "path.workflow_name": "$request.path.workflow_name",
                "path.instance_id": f"$response.body#{id_pointer}",
            },
        }
    return links


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$defs`` references replaced by the definitions (not recursive
    models: request bodies are small trees), so it stands alone in the document."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
