"""Stateful Responses through the official SDK: `previous_response_id` chains, retrieve, delete,
input_items with pagination, input token counts, background mode (queued → in_progress →
completed, cancel) and resuming a stream by sequence number."""
from __future__ import annotations

import json
import time

import openai
import pytest

from llm_mock import ErrorReply, MockServer, ReplyObject, ToolCall

MODEL = "gpt-4.1"
WEATHER = {"type": "function", "name": "get_weather", "description": "weather", "strict": True,
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                          "additionalProperties": False}}


def remembers_the_name(request) -> bool:
    """A rule that needs the first turn: the user's name is only in an earlier message."""
    return "what is my name" in request.last_message.lower() and any(
        "my name is ada" in m.content.lower() for m in request.messages[:-1])


@pytest.fixture
def mock():
    with MockServer() as server:
        server.when(remembers_the_name).reply("Your name is Ada.")
        server.when("my name is").reply("Nice to meet you, Ada!")
        server.when("what is my name").reply("I do not know your name.")
        server.when_tool_result("call_w1").reply(lambda request: f"It is {request.messages[-1].content} in Paris.")
        server.when("weather").reply(ReplyObject(tools=[ToolCall("get_weather", {"city": "Paris"}, id="call_w1")]))
        server.when("slowly").reply("A slow background answer, paced by the rule.", latency=60, chunk_size=6)
        server.when("doomed").reply(ErrorReply(503, "model overloaded"), latency=50)
        yield server


@pytest.fixture
def client(mock):
    return openai.OpenAI(base_url=mock.url + "/v1", api_key="sk-test", max_retries=0,
                         _strict_response_validation=True)


# -- previous_response_id ------------------------------------------------------------------------
def test_two_turns_through_previous_response_id(client, mock):
    first = client.responses.create(model=MODEL, input="Hi, my name is Ada.", instructions="Be kind.")
    assert first.output_text == "Nice to meet you, Ada!" and first.store is True
    second = client.responses.create(model=MODEL, input="What is my name?", previous_response_id=first.id)
    assert second.output_text == "Your name is Ada." and second.previous_response_id == first.id
    request = mock.history.last().request
    assert [(m.role, m.content) for m in request.messages] == [
        ("user", "Hi, my name is Ada."), ("assistant", "Nice to meet you, Ada!"), ("user", "What is my name?")]
    assert request.system_message == ""  # instructions are not inherited
    alone = client.responses.create(model=MODEL, input="What is my name?")
    assert alone.output_text == "I do not know your name."


def test_a_chain_of_three_with_new_instructions(client, mock):
    first = client.responses.create(model=MODEL, input="my name is Ada")
    second = client.responses.create(model=MODEL, input="How are you?", previous_response_id=first.id)
    third = client.responses.create(model=MODEL, input="What is my name?", previous_response_id=second.id,
                                    instructions="Answer briefly.")
    assert third.output_text == "Your name is Ada." and third.instructions == "Answer briefly."
    messages = mock.history.last().request.messages
    assert [m.role for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert messages[0].content == "Answer briefly."


def test_tool_calls_and_their_outputs_carry_over(client, mock):
    """The Agents SDK sends only the new function_call_output with the latest response id."""
    first = client.responses.create(model=MODEL, input="weather in Paris?", tools=[WEATHER])
    (call,) = first.output
    assert call.type == "function_call" and call.call_id == "call_w1"
    second = client.responses.create(model=MODEL, previous_response_id=first.id, tools=[WEATHER], input=[
        {"type": "function_call_output", "call_id": "call_w1", "output": "sunny"}])
    assert second.output_text == "It is sunny in Paris."
    request = mock.history.last().request
    assert request.last_message == "weather in Paris?" and request.last_tool_call_id == "call_w1"
    assert [m.role for m in request.messages] == ["user", "assistant", "tool"]


@pytest.mark.parametrize("how", ["unknown", "deleted", "unstored"])
def test_a_missing_previous_response_is_the_apis_400(client, how):
    if how == "unknown":
        missing = "resp_0170fe265da3792a016a1e218f648c8191b45ed1d426c39d49"
    else:
        missing = client.responses.create(model=MODEL, input="hello", store=how != "unstored").id
        if how == "deleted":
            client.responses.delete(missing)
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODEL, input="again", previous_response_id=missing)
    error = caught.value
    assert (error.status_code, error.code, error.param, error.type) == (
        400, "previous_response_not_found", "previous_response_id", "invalid_request_error")
    assert error.body["message"] == f"Previous response with id '{missing}' not found."


def test_input_items_with_ids_are_data_not_lookups(client, mock):
    """Codex sends `store: false`, an id on every item and the whole history each turn."""
    items = [{"type": "message", "id": "msg_client_1", "role": "user", "content": [
                 {"type": "input_text", "text": "my name is Ada"}]},
             {"type": "message", "id": "msg_client_2", "role": "assistant", "content": [
                 {"type": "output_text", "text": "Hello Ada", "annotations": []}]},
             {"type": "message", "id": "msg_client_3", "role": "user", "content": [
                 {"type": "input_text", "text": "what is my name?"}]}]
    response = client.responses.create(model=MODEL, input=items, store=False)
    assert response.output_text == "Your name is Ada." and response.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_streamed_turns_chain_too(client):
    with client.responses.stream(model=MODEL, input="my name is Ada") as stream:
        first = stream.get_final_response()
    second = client.responses.create(model=MODEL, input="what is my name", previous_response_id=first.id,
                                     stream=True)
    final = [e for e in second if e.type == "response.completed"][0].response
    assert final.output_text == "Your name is Ada."


# -- retrieve, delete, input_items, input_tokens ----------------------------------------------------
def test_retrieve_and_delete(client, mock):
    created = client.responses.create(model=MODEL, input="my name is Ada", metadata={"k": "v"})
    fetched = client.responses.retrieve(created.id)
    assert fetched.model_dump() == created.model_dump()
    assert client.responses.delete(created.id) is None
    with pytest.raises(openai.NotFoundError, match=f"Response with id '{created.id}' not found."):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(created.id)
    raw = client.responses.with_raw_response.delete(client.responses.create(model=MODEL, input="x").id)
    assert json.loads(raw.http_response.text)["deleted"] is True


def test_reset_forgets_stored_responses(client, mock):
    created = client.responses.create(model=MODEL, input="hello")
    mock.reset()
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)


def test_input_items_pagination(client):
    first = client.responses.create(model=MODEL, input="my name is Ada")
    items = [{"role": "user", "content": f"message {i}"} for i in range(5)]
    items.insert(2, {"type": "function_call_output", "call_id": "call_x", "output": "42"})
    response = client.responses.create(model=MODEL, input=items, previous_response_id=first.id)
    newest_first = list(client.responses.input_items.list(response.id, limit=2))  # pages after the last item's id
    assert len(newest_first) == 6 and len({item.id for item in newest_first}) == 6
    oldest_first = list(client.responses.input_items.list(response.id, order="asc", limit=4))
    assert [item.id for item in oldest_first] == [item.id for item in reversed(newest_first)]
    assert [getattr(i, "output", None) or i.content[0].text for i in oldest_first] == [
        "message 0", "message 1", "42", "message 2", "message 3", "message 4"]
    page = client.responses.input_items.list(response.id, order="asc", limit=4)
    assert page.has_more is True and page.first_id == oldest_first[0].id and page.last_id == oldest_first[3].id
    rest = client.responses.input_items.list(response.id, order="asc", after=oldest_first[3].id)
    assert [i.id for i in rest.data] == [i.id for i in oldest_first[4:]] and rest.has_more is False
    (only,) = client.responses.input_items.list(first.id).data  # a string input is one user message
    assert only.type == "message" and only.role == "user" and only.content[0].text == "my name is Ada"


def test_input_tokens_counts_what_usage_reports(client):
    kw = {"model": MODEL, "input": "What is the weather like?", "instructions": "Be brief.", "tools": [WEATHER]}
    count = client.responses.input_tokens.count(**kw)
    assert count.object == "response.input_tokens"
    assert count.input_tokens == client.responses.create(**kw).usage.input_tokens
    first = client.responses.create(model=MODEL, input="my name is Ada")
    chained = client.responses.input_tokens.count(model=MODEL, input="what is my name?",
                                                  previous_response_id=first.id)
    reply = client.responses.create(model=MODEL, input="what is my name?", previous_response_id=first.id)
    assert chained.input_tokens == reply.usage.input_tokens > count.input_tokens // 4
    assert client.responses.input_tokens.count().input_tokens == 1  # no fields at all
    with pytest.raises(openai.BadRequestError, match="previous_response_not_found|not found"):
        client.responses.input_tokens.count(input="x", previous_response_id="resp_missing")


# -- background ------------------------------------------------------------------------------------
def poll(client, response_id: str, seen: list):
    while True:
        response = client.responses.retrieve(response_id)
        seen.append(response.status)
        if response.status not in ("queued", "in_progress"):
            return response
        time.sleep(0.02)


def test_background_goes_queued_in_progress_completed(client):
    started = time.monotonic()
    created = client.responses.create(model=MODEL, input="answer slowly", background=True)
    assert created.status == "queued" and created.background is True and created.output == []
    assert time.monotonic() - started < 0.3  # answered before the reply's pacing ran
    seen: list = []
    final = poll(client, created.id, seen)
    assert final.status == "completed" and final.output_text == "A slow background answer, paced by the rule."
    assert seen[0] in ("queued", "in_progress") and "in_progress" in seen and seen[-1] == "completed"
    assert seen == sorted(seen, key=["queued", "in_progress", "completed"].index)
    assert time.monotonic() - started >= 0.06 * 10


def test_background_failure_is_a_failed_response(client):
    created = client.responses.create(model=MODEL, input="doomed", background=True)
    assert created.status == "queued"
    final = poll(client, created.id, [])
    assert final.status == "failed" and final.error.message == "model overloaded"


def test_cancel(client):
    created = client.responses.create(model=MODEL, input="answer slowly", background=True)
    cancelled = client.responses.cancel(created.id)
    assert cancelled.status == "cancelled" and cancelled.usage is None
    time.sleep(0.1)
    assert client.responses.cancel(created.id).status == "cancelled"  # idempotent
    assert client.responses.retrieve(created.id).status == "cancelled"
    done = client.responses.create(model=MODEL, input="hello", background=True)
    poll(client, done.id, [])
    assert client.responses.cancel(done.id).status == "completed"  # finished: left as it is
    with pytest.raises(openai.BadRequestError, match="background=true"):
        client.responses.cancel(client.responses.create(model=MODEL, input="hello").id)
    with pytest.raises(openai.NotFoundError):
        client.responses.cancel("resp_nope")


def test_background_needs_store(client):
    with pytest.raises(openai.BadRequestError, match="store"):
        client.responses.create(model=MODEL, input="x", background=True, store=False)


# -- resuming a stream ---------------------------------------------------------------------------------
def test_resume_a_streamed_background_response(client):
    events = []
    for event in client.responses.create(model=MODEL, input="answer slowly", background=True, stream=True):
        events.append(event)
        if len(events) == 5:
            break  # the connection drops; the cursor is the last sequence number seen
    response_id, cursor = events[0].response.id, events[-1].sequence_number
    assert events[0].response.background is True
    resumed = list(client.responses.retrieve(response_id, stream=True, starting_after=cursor))
    assert [e.sequence_number for e in resumed] == list(range(cursor + 1, cursor + 1 + len(resumed)))
    assert resumed[-1].type == "response.completed"
    text = "".join(e.delta for e in events + resumed if e.type == "response.output_text.delta")
    assert text == "A slow background answer, paced by the rule."
    with client.responses.stream(response_id=response_id, starting_after=cursor) as stream:  # the helper
        helped = [e.sequence_number for e in stream]
        assert stream.get_final_response().output_text == text
    assert helped == [e.sequence_number for e in resumed]


def test_a_background_json_response_can_be_streamed_later(client):
    created = client.responses.create(model=MODEL, input="my name is Ada", background=True)
    replay = list(client.responses.retrieve(created.id, stream=True))
    assert replay[0].type == "response.created" and replay[-1].type == "response.completed"
    assert replay[-1].response.output_text == "Nice to meet you, Ada!"
    plain = client.responses.create(model=MODEL, input="my name is Ada")
    with pytest.raises(openai.BadRequestError, match="cannot be streamed"):
        list(client.responses.retrieve(plain.id, stream=True))
