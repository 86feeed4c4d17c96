"""Model listings and Anthropic's token counter, through the official SDKs with strict validation."""
from __future__ import annotations

from support.raw_http import raw_post, raw_request


def test_openai_lists_and_retrieves_models(server, oai):
    ids = [model.id for model in oai.models.list()]
    assert "gpt-4o" in ids and len(ids) == len(set(ids)) >= 3
    model = oai.models.retrieve("my-fine-tune")
    assert (model.id, model.object, model.owned_by) == ("my-fine-tune", "model", "system")


def test_anthropic_paginates_models_to_the_end(server, claude):
    pages = claude.models.list(limit=2)
    first_page = [m.id for m in pages.data]
    assert len(first_page) == 2 and pages.has_more is True
    every = [m.id for m in claude.models.list(limit=2)]  # auto-pagination must stop
    assert every[:2] == first_page and len(every) == 3 and len(set(every)) == 3
    assert [e.path for e in server.history][-2:] == [
        "/v1/models?limit=2", f"/v1/models?limit=2&after_id={first_page[-1]}"]
    info = claude.models.retrieve("claude-custom")
    assert (info.id, info.type, info.lifecycle) == ("claude-custom", "model", "active")


def test_count_tokens_agrees_with_the_messages_usage(server, claude):
    messages = [{"role": "user", "content": "How many tokens is this sentence, roughly?"}]
    counted = claude.messages.count_tokens(model="claude-test", system="Be brief.", messages=messages)
    server.when("tokens").reply("About ten.")
    reply = claude.messages.create(model="claude-test", system="Be brief.", messages=messages, max_tokens=50)
    assert counted.input_tokens == reply.usage.input_tokens > 0


def test_count_tokens_rejects_a_bad_body_in_anthropic_shape(server):
    reply = raw_post(server, "/v1/messages/count_tokens", {"model": "c"}, {"anthropic-version": "2023-06-01"})
    body = reply.json
    assert reply.status == 400
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "messages" in body["error"]["message"]


def test_other_paths_are_still_404(server, oai):
    reply = raw_request(server, "GET", "/v1/models/")
    assert reply.status == 404 and reply.json["error"]["code"] is None
