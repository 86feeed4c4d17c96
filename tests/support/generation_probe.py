"""Drive a running llm_mock with the older SDK generations and print what they observed.

Run as `python tests/support/generation_probe.py <url>` in a virtualenv with `openai<2` and
`anthropic<1`, this repo on PYTHONPATH and not installed (tests/sdk/test_sdk_generations.py does
that). Their accumulators and strict models differ from the current SDKs' (protocol-notes §7), so
every format, delivery mode and reply shape goes through them; one JSON document goes to stdout.
Only the standard library is imported at module level, because the test imports the scenarios from
here (as `support.generation_probe`); run as a script, it imports nothing from `support`.
"""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

TEXT = "The mock speaks in small pieces."
REASONING = "Weigh the question first, then answer it."
TOOL_CALLS = [{"name": "get_weather", "args": {"city": "Paris"}}, {"name": "get_time", "args": {"zone": "CET"}}]
LONG_TEXT = "Truncated answers stop where the token budget ends. " * 4
LIMIT = 16  # the max tokens the truncation scenario asks for (the Responses API minimum)
SCENARIOS = {  # reply shape -> the rule's reply
    "text": {"text": TEXT},
    "reasoning": {"text": TEXT, "reasoning": REASONING},
    "tools": {"tools": TOOL_CALLS},
    "empty": {"text": ""},
    "truncated": {"text": LONG_TEXT},
}
FORMATS = ("chat", "responses", "messages")
MODES = ("create", "stream", "helper")  # non-stream, raw `create(stream=True)`, the `.stream()` helper
SCHEMAS = {name: {"type": "object", "properties": {key: {"type": "string"}}, "required": [key],
                  "additionalProperties": False}  # valid for strict function calling
           for name, key in (("get_weather", "city"), ("get_time", "zone"))}


def prompt(name: str) -> str:
    """The user message that the test's rule for `name` matches."""
    return f"scenario {name}"


def caught(exc: BaseException) -> dict:
    out = {"class": type(exc).__name__, "message": str(exc)[:300]}
    for name in ("status_code", "code", "type", "body", "request_id"):
        value = getattr(exc, name, None)
        if value is not None:
            out[name] = value
    return out


# -- OpenAI Chat Completions -------------------------------------------------------------------

def chat_kwargs(scenario: str) -> dict:
    kw = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt(scenario)}]}
    if scenario == "tools":
        kw["tools"] = [{"type": "function", "function": {"name": n, "description": f"{n} tool", "parameters": s}}
                       for n, s in SCHEMAS.items()]
    if scenario == "truncated":
        kw["max_completion_tokens"] = LIMIT
    return kw


def chat_usage(usage) -> dict:
    return {"input": usage.prompt_tokens, "output": usage.completion_tokens, "total": usage.total_tokens,
            "reasoning": usage.completion_tokens_details.reasoning_tokens}


def chat_message(message, finish, usage) -> dict:
    tools = [[t.function.name, json.loads(t.function.arguments)] for t in message.tool_calls or []]
    return {"text": message.content, "tools": tools, "finish": finish, "usage": chat_usage(usage)}


def chat_create(client, scenario: str, seen: dict) -> dict:
    completion = client.chat.completions.create(**chat_kwargs(scenario))
    choice = completion.choices[0]
    return {**chat_message(choice.message, choice.finish_reason, completion.usage), "choices": len(completion.choices)}


def chat_stream(client, scenario: str, seen: dict) -> dict:
    calls, finish, usage, roles, chunks = {}, None, None, [], []
    seen["text"] = text = None
    for chunk in client.chat.completions.create(**chat_kwargs(scenario), stream=True,
                                                stream_options={"include_usage": True}):
        chunks.append(len(chunk.choices))
        usage = chunk.usage or usage
        for choice in chunk.choices:
            delta = choice.delta
            roles += [delta.role] if delta.role else []
            if delta.content is not None:
                seen["text"] = text = (text or "") + delta.content
            for call in delta.tool_calls or []:
                entry = calls.setdefault(call.index, ["", ""])
                entry[0] += call.function.name or ""
                entry[1] += call.function.arguments or ""
            finish = choice.finish_reason or finish
    tools = [[name, json.loads(args)] for name, args in (calls[i] for i in sorted(calls))]
    return {"text": text, "tools": tools, "finish": finish, "usage": chat_usage(usage) if usage else None,
            "roles": roles, "chunks": len(chunks), "last_chunk_choices": chunks[-1]}


def chat_helper(client, scenario: str, seen: dict) -> dict:
    done = seen.setdefault("done", [])
    with client.chat.completions.stream(**chat_kwargs(scenario), stream_options={"include_usage": True}) as stream:
        for event in stream:
            if event.type == "content.delta":
                seen["text"] = event.snapshot
            elif event.type == "content.done":
                done.append(["content", event.content])
            elif event.type == "tool_calls.function.arguments.done":
                done.append([event.name, json.loads(event.arguments)])
        completion = stream.get_final_completion()
    choice = completion.choices[0]
    return {**chat_message(choice.message, choice.finish_reason, completion.usage), "done": done}


# -- OpenAI Responses ------------------------------------------------------------------------

def responses_kwargs(scenario: str) -> dict:
    kw = {"model": "o4-mini", "input": prompt(scenario)}
    if scenario == "reasoning":
        kw["reasoning"] = {"effort": "low", "summary": "auto"}
    if scenario == "tools":
        kw["tools"] = [{"type": "function", "name": n, "description": f"{n} tool", "parameters": s, "strict": True}
                       for n, s in SCHEMAS.items()]
    if scenario == "truncated":
        kw["max_output_tokens"] = LIMIT
    return kw


def responses_final(response) -> dict:
    reasoning = ["".join(s.text for s in item.summary) for item in response.output if item.type == "reasoning"]
    tools = [[item.name, json.loads(item.arguments)] for item in response.output if item.type == "function_call"]
    has_message = any(item.type == "message" for item in response.output)
    usage = response.usage
    return {"text": response.output_text if has_message else None, "reasoning": reasoning[0] if reasoning else None,
            "tools": tools, "finish": response.status,
            "incomplete": response.incomplete_details.reason if response.incomplete_details else None,
            "usage": {"input": usage.input_tokens, "output": usage.output_tokens, "total": usage.total_tokens,
                      "reasoning": usage.output_tokens_details.reasoning_tokens},
            "items": [item.type for item in response.output]}


def responses_create(client, scenario: str, seen: dict) -> dict:
    return responses_final(client.responses.create(**responses_kwargs(scenario)))


def responses_events(events, seen: dict):
    """Record the events' types, texts and sequence numbers; return the terminal event's response."""
    types, text, reasoning, numbers, terminal = [], None, None, [], None
    for event in events:
        types.append(event.type)
        numbers.append(event.sequence_number)
        if event.type == "response.output_text.delta":
            text = (text or "") + event.delta
        elif event.type == "response.reasoning_summary_text.delta":
            reasoning = (reasoning or "") + event.delta
        elif event.type in ("response.completed", "response.incomplete", "response.failed"):
            terminal = event.response
        seen.update(types=types, text=text, reasoning=reasoning, numbers=numbers)
    return terminal


def responses_stream(client, scenario: str, seen: dict) -> dict:
    final = responses_final(responses_events(client.responses.create(**responses_kwargs(scenario), stream=True), seen))
    return {**final, "delta_text": seen["text"], "delta_reasoning": seen["reasoning"],
            "sequence": seen["numbers"] == list(range(len(seen["numbers"]))),
            "first": seen["types"][0], "last": seen["types"][-1]}


def responses_helper(client, scenario: str, seen: dict) -> dict:
    with client.responses.stream(**responses_kwargs(scenario)) as stream:
        seen["terminal"] = responses_events(stream, seen)
        response = stream.get_final_response()
    return {**responses_final(response), "delta_text": seen["text"], "last": seen["types"][-1]}


# -- Anthropic Messages ----------------------------------------------------------------------

def messages_kwargs(scenario: str) -> dict:
    kw = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": [{"role": "user", "content": prompt(scenario)}]}
    if scenario == "reasoning":
        kw.update(max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024})
    if scenario == "tools":
        kw["tools"] = [{"name": n, "description": f"{n} tool", "input_schema": s} for n, s in SCHEMAS.items()]
    if scenario == "truncated":
        kw["max_tokens"] = LIMIT
    return kw


def messages_final(message) -> dict:
    blocks = message.content
    texts = [b.text for b in blocks if b.type == "text"]
    thinking = [b for b in blocks if b.type == "thinking"]
    return {"text": "".join(texts) if texts else None, "reasoning": thinking[0].thinking if thinking else None,
            "signed": all(b.signature for b in thinking) if thinking else None,
            "tools": [[b.name, b.input] for b in blocks if b.type == "tool_use"], "finish": message.stop_reason,
            "usage": {"input": message.usage.input_tokens, "output": message.usage.output_tokens},
            "blocks": [b.type for b in blocks]}


def messages_create(client, scenario: str, seen: dict) -> dict:
    return messages_final(client.messages.create(**messages_kwargs(scenario)))


def messages_stream(client, scenario: str, seen: dict) -> dict:
    types, blocks, finish, usage = seen.setdefault("types", []), seen.setdefault("blocks", []), None, {}
    for event in client.messages.create(**messages_kwargs(scenario), stream=True):
        types.append(event.type)
        if event.type == "message_start":
            usage["input"] = event.message.usage.input_tokens
        elif event.type == "content_block_start":
            blocks.append({"type": event.content_block.type, "name": getattr(event.content_block, "name", None),
                           "text": "", "signed": False})
        elif event.type == "content_block_delta":
            delta, block = event.delta, blocks[event.index]
            block["text"] += getattr(delta, "text", None) or getattr(delta, "thinking", None) or \
                getattr(delta, "partial_json", None) or ""
            block["signed"] = block["signed"] or delta.type == "signature_delta"
        elif event.type == "message_delta":
            finish, usage["output"] = event.delta.stop_reason, event.usage.output_tokens
    texts = [b["text"] for b in blocks if b["type"] == "text"]
    thinking = [b for b in blocks if b["type"] == "thinking"]
    return {"text": "".join(texts) if texts else None, "reasoning": thinking[0]["text"] if thinking else None,
            "signed": all(b["signed"] for b in thinking) if thinking else None,
            "tools": [[b["name"], json.loads(b["text"])] for b in blocks if b["type"] == "tool_use"],
            "finish": finish, "usage": usage, "blocks": [b["type"] for b in blocks], "types": types}


def messages_helper(client, scenario: str, seen: dict) -> dict:
    text = seen.setdefault("text_events", [])
    with client.messages.stream(**messages_kwargs(scenario)) as stream:
        for event in stream:
            if event.type == "text":
                text.append(event.text)
        message = stream.get_final_message()
    return {**messages_final(message), "text_events": "".join(text)}


# -- failures --------------------------------------------------------------------------------

def failures(oai, claude, runners: dict) -> dict:
    """HTTP errors before a stream, and the in-band errors that end a started one."""
    out = {}
    user = [{"role": "user", "content": prompt("rate_limited")}]
    attempts = {
        "chat/create/rate_limited": lambda: oai.chat.completions.create(model="gpt-4o-mini", messages=user),
        "chat/stream/rate_limited": lambda: list(oai.chat.completions.create(model="gpt-4o-mini", messages=user,
                                                                              stream=True)),
        "messages/create/overloaded": lambda: claude.messages.create(
            model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": prompt("overloaded")}]),
    }
    for key, attempt in attempts.items():
        try:
            attempt()
            out[key] = {"error": None}
        except Exception as exc:  # the class name is the observation
            out[key] = {"error": caught(exc)}
    for fmt in FORMATS:
        for mode in ("stream", "helper"):
            out[f"{fmt}/{mode}/inband"] = observe(runners[fmt][mode], "inband")
    return out


# -- the rest of the OpenAI surface ------------------------------------------------------------

def surface(url: str) -> dict:
    """Embeddings, legacy completions, logprobs and stored Responses as the older SDK reads them."""
    import openai

    strict = openai.OpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0, timeout=20,
                           _strict_response_validation=True)
    lax = openai.OpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0, timeout=20)
    chat = [{"role": "user", "content": prompt("text")}]
    include = ["message.output_text.logprobs"]

    def embeddings(seen: dict) -> dict:
        floats = strict.embeddings.create(model="text-embedding-3-small", input=["a b", "c"], encoding_format="float")
        decoded = lax.embeddings.create(model="text-embedding-3-small", input="a b", dimensions=64)
        head = floats.data[0].embedding[:64]
        norm = sum(v * v for v in head) ** 0.5
        return {"lengths": [len(d.embedding) for d in floats.data], "tokens": floats.usage.prompt_tokens,
                "decoded": len(decoded.data[0].embedding),  # base64, decoded by the SDK: the prefix, re-normalised
                "drift": max(abs(x - y / norm) for x, y in zip(decoded.data[0].embedding, head, strict=True))}

    def completions(seen: dict) -> dict:
        made = strict.completions.create(model="gpt-3.5-turbo-instruct", prompt=prompt("text"), logprobs=1,
                                         max_tokens=64)
        streamed = list(lax.completions.create(model="gpt-3.5-turbo-instruct", prompt=prompt("text"), max_tokens=64,
                                               stream=True))
        return {"text": made.choices[0].text, "tokens": "".join(made.choices[0].logprobs.tokens),
                "stream": "".join(c.choices[0].text for c in streamed), "finish": streamed[-1].choices[0].finish_reason}

    def logprobs(seen: dict) -> dict:
        made = strict.chat.completions.create(model="gpt-4o-mini", messages=chat, logprobs=True, top_logprobs=2)
        with strict.chat.completions.stream(model="gpt-4o-mini", messages=chat, logprobs=True) as stream:
            helper = stream.get_final_completion()
        response = strict.responses.create(model="o4-mini", input=prompt("text"), include=include, top_logprobs=2)
        return {"chat": "".join(t.token for t in made.choices[0].logprobs.content),
                "top": len(made.choices[0].logprobs.content[0].top_logprobs),
                "helper": "".join(t.token for t in helper.choices[0].logprobs.content),
                "responses": "".join(t.token for t in response.output[0].content[0].logprobs)}

    def stored(seen: dict) -> dict:
        first = strict.responses.create(model="o4-mini", input=prompt("text"))
        second = strict.responses.create(model="o4-mini", input="and more", previous_response_id=first.id)
        out = {"retrieved": strict.responses.retrieve(first.id).output_text,
               "chained": second.previous_response_id == first.id,
               "items": len(list(strict.responses.input_items.list(second.id)))}
        strict.responses.delete(first.id)
        try:
            strict.responses.retrieve(first.id)
        except openai.NotFoundError as exc:
            out["deleted"] = exc.status_code
        return out

    return {name: observe(lambda scenario, seen, run=run: run(seen), "surface")
            for name, run in (("embeddings", embeddings), ("completions", completions), ("logprobs", logprobs),
                              ("stored", stored))}


# -- the run ---------------------------------------------------------------------------------

def observe(run, scenario: str) -> dict:
    """What one call produced: its observation, or the exception plus what was seen before it."""
    seen = {}
    try:
        return {**run(scenario, seen), "error": None}
    except Exception as exc:
        partial = {k: v for k, v in seen.items() if k != "terminal"}
        completion = getattr(exc, "completion", None)  # the chat helper's refusal carries the completion
        if completion is not None:
            choice = completion.choices[0]
            partial.update(chat_message(choice.message, choice.finish_reason, completion.usage))
        if seen.get("terminal") is not None:  # the Responses stream ended with another terminal event
            partial.update(responses_final(seen["terminal"]))
        return {"error": caught(exc), "seen": partial}


RUNS = {"chat": {"create": chat_create, "stream": chat_stream, "helper": chat_helper},
        "responses": {"create": responses_create, "stream": responses_stream, "helper": responses_helper},
        "messages": {"create": messages_create, "stream": messages_stream, "helper": messages_helper}}


def vendored() -> dict:
    """llm_mock imported from the repo on PYTHONPATH, not installed, serving the old SDKs itself."""
    import importlib.metadata

    import openai

    import llm_mock

    repo = Path(llm_mock.__file__).resolve().parent.parent
    # an editable install leaves llm_mock.egg-info in the repo itself: only metadata elsewhere counts
    names = ("llm-mock-server", "llm_mock_server", "llm-mock", "llm_mock")
    installed = any(Path(dist.locate_file("")).resolve() != repo for dist in importlib.metadata.distributions()
                    if (dist.metadata["Name"] or "").lower() in names)
    with llm_mock.MockServer() as server:
        server.when("vendored").reply("served by a vendored copy")
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-test", max_retries=0,
                               _strict_response_validation=True)
        reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "vendored"}])
    return {"file": llm_mock.__file__, "installed": installed, "text": reply.choices[0].message.content}


def main(url: str) -> dict:
    import anthropic
    import openai

    oai = openai.OpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0, timeout=20,
                        _strict_response_validation=True)
    claude = anthropic.Anthropic(base_url=url, api_key="sk-ant-test", max_retries=0, timeout=20,
                                 _strict_response_validation=True)
    clients = {"chat": oai, "responses": oai, "messages": claude}
    runners = {fmt: {mode: functools.partial(RUNS[fmt][mode], clients[fmt]) for mode in MODES} for fmt in FORMATS}
    observed = {f"{fmt}/{mode}/{scenario}": observe(runners[fmt][mode], scenario)
                for fmt in FORMATS for mode in MODES for scenario in SCENARIOS}
    observed.update(failures(oai, claude, runners))
    return {"versions": {"openai": openai.__version__, "anthropic": anthropic.__version__},
            "observed": observed, "surface": surface(url), "vendored": vendored()}


if __name__ == "__main__":
    json.dump(main(sys.argv[1].rstrip("/")), sys.stdout, default=repr, indent=1)
