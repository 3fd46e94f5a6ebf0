"""Drives Switchyard with the official OpenAI Python SDK, unchanged.

Environment: SY_BASE_URL (http://HOST:PORT/v1), SY_KEY (a Switchyard key), SY_MODELS (comma-
separated model names, each served by a different provider kind). Prints one line per check
and exits non-zero when any check fails.
"""

import json
import os
import sys

import openai
from openai import OpenAI

TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}]

failures = []


def check(label, condition, detail=""):
    print(("ok   " if condition else "FAIL ") + label + ("" if condition else f": {detail}"))
    if not condition:
        failures.append(label)


def run(client, model):
    user = [{"role": "user", "content": "hello sdk"}]
    r = client.chat.completions.create(model=model, messages=user)
    check(f"{model} text", r.choices[0].message.content == "Echo: hello sdk", r)
    check(f"{model} usage", r.usage.prompt_tokens == 11 and r.usage.completion_tokens == 7, r.usage)

    text, usage = "", None
    stream = client.chat.completions.create(
        model=model, messages=user, stream=True, stream_options={"include_usage": True})
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage:
            usage = chunk.usage
    check(f"{model} stream text", text == "Echo: hello sdk", text)
    check(f"{model} stream usage", usage is not None and usage.completion_tokens == 7, usage)

    ask = [{"role": "user", "content": "what's the weather?"}]
    r = client.chat.completions.create(model=model, messages=ask, tools=TOOLS)
    calls = r.choices[0].message.tool_calls or []
    check(f"{model} tool call", len(calls) == 1 and calls[0].function.name == "get_weather", r)
    if calls:
        args = json.loads(calls[0].function.arguments)
        check(f"{model} tool args", args == {"city": "Paris", "days": 3}, args)
        follow = ask + [
            r.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny"},
        ]
        r2 = client.chat.completions.create(model=model, messages=follow, tools=TOOLS)
        check(f"{model} tool result", r2.choices[0].message.content == "Tool said: sunny", r2)

    parts = {}
    stream = client.chat.completions.create(
        model=model, stream=True, tools=TOOLS,
        messages=[{"role": "user", "content": "two cities, parallel please"}])
    for chunk in stream:
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            entry = parts.setdefault(call.index, {"id": None, "name": None, "args": ""})
            if call.id:
                entry["id"] = call.id
            if call.function and call.function.name:
                entry["name"] = call.function.name
            if call.function and call.function.arguments:
                entry["args"] += call.function.arguments
    got = [json.loads(parts[i]["args"]) for i in sorted(parts)]
    check(f"{model} streamed parallel tools",
          got == [{"city": "Paris", "days": 3}, {"city": "Tokyo", "days": 1}], parts)

    try:
        client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "[mock:status=429]"}])
        check(f"{model} 429", False, "no error raised")
    except openai.RateLimitError as e:
        check(f"{model} 429", e.status_code == 429, e)


def main():
    client = OpenAI(base_url=os.environ["SY_BASE_URL"], api_key=os.environ["SY_KEY"], max_retries=0)
    for model in os.environ["SY_MODELS"].split(","):
        run(client, model)
    try:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
        check("unknown model", False, "no error raised")
    except openai.NotFoundError as e:
        check("unknown model", e.status_code == 404, e)
    try:
        OpenAI(base_url=os.environ["SY_BASE_URL"], api_key="sy_live_wrong", max_retries=0) \
            .chat.completions.create(model="x", messages=[{"role": "user", "content": "x"}])
        check("wrong key", False, "no error raised")
    except openai.AuthenticationError as e:
        check("wrong key", e.status_code == 401, e)
    print(f"{len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
