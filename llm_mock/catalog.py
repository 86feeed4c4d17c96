"""The endpoints around the completions: model listings and Anthropic's token counter.

Clients probe these (`GET /v1/models`, `GET /v1/models/{id}`, `POST /v1/messages/count_tokens`)
before or beside their real calls. Any model id is answered, as any model name is accepted for
completions; the listing shows a few current ones in the vendor's shape (protocol-notes §5).
"""
from __future__ import annotations

from typing import Any, Optional

OPENAI_MODELS = ("gpt-5", "gpt-5-mini", "gpt-4.1", "gpt-4o", "gpt-4o-mini", "o4-mini", "text-embedding-3-small")
ANTHROPIC_MODELS = (("claude-opus-4-5-20251101", "Claude Opus 4.5", "2025-11-01T00:00:00Z"),
                    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
                    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-01T00:00:00Z"))
_CREATED = 1735689600  # 2025-01-01, a fixed date keeps listings deterministic


def openai_model(model_id: str) -> dict:
    return {"id": model_id, "object": "model", "created": _CREATED, "owned_by": "system"}


def anthropic_model(model_id: str, name: Optional[str] = None, created: str = "2025-01-01T00:00:00Z") -> dict:
    return {"type": "model", "id": model_id, "display_name": name or model_id, "created_at": created,
            "lifecycle": "active"}


def openai_models() -> dict:
    return {"object": "list", "data": [openai_model(m) for m in OPENAI_MODELS]}


def anthropic_models(query: dict) -> dict:
    """One page, honouring `limit`, `after_id` and `before_id` so the SDK's paginator ends."""
    models = [anthropic_model(*m) for m in ANTHROPIC_MODELS]
    ids = [m["id"] for m in models]
    if query.get("after_id") in ids:
        models = models[ids.index(query["after_id"]) + 1:]
    elif query.get("before_id") in ids:
        models = models[:ids.index(query["before_id"])]
    try:
        limit = max(1, min(int(query.get("limit", 20)), 1000))
    except ValueError:
        limit = 20
    page = models[:limit]
    return {"data": page, "has_more": len(models) > limit,
            "first_id": page[0]["id"] if page else None, "last_id": page[-1]["id"] if page else None}


def list_models(call: Any, adapter: Any) -> dict:
    """`GET /v1/models` in the shape of the vendor the request's headers point to (a format with its
    own catalogue, such as Gemini's, answers from it)."""
    own = getattr(adapter, "model_list", None)
    if own is not None:
        return own(call)
    return anthropic_models(call.query) if adapter.name == "anthropic" else openai_models()


def get_model(call: Any, adapter: Any) -> dict:
    own = getattr(adapter, "model_get", None)
    if own is not None:
        return own(call)
    model = call.params["model"]
    return anthropic_model(model) if adapter.name == "anthropic" else openai_model(model)
