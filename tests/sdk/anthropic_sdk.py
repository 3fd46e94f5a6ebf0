"""Drives Switchyard with the official Anthropic Python SDK, unchanged.

Environment: SY_ROOT_URL (http://HOST:PORT, the SDK adds /v1/messages), SY_KEY, SY_MODELS
(comma-separated model names, each served by a different provider kind). Prints one line per
check and exits non-zero when any check fails.
"""

import os
import sys

import anthropic
from anthropic import Anthropic

TOOLS = [{
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
}]

failures = []


def check(label, condition, detail=""):
    print(("ok   " if condition else "FAIL ") + label + ("" if condition else f": {detail}"))
    if not condition:
        failures.append(label)


def run(client, model):
    user = [{"role": "user", "content": "hello sdk"}]
    m = client.messages.create(model=model, max_tokens=256, messages=user)
    check(f"{model} text", m.content[0].type == "text" and m.content[0].text == "Echo: hello sdk", m)
    check(f"{model} stop", m.stop_reason == "end_turn", m.stop_reason)
    check(f"{model} usage", m.usage.output_tokens == 7, m.usage)
    check(f"{model} id", m.id.startswith("msg_") and m.type == "message" and m.role == "assistant", m)

    with client.messages.stream(model=model, max_tokens=256, messages=user) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    check(f"{model} stream text", text == "Echo: hello sdk", text)
    check(f"{model} stream final", final.stop_reason == "end_turn" and final.usage.output_tokens == 7,
          final)

    ask = [{"role": "user", "content": "what's the weather?"}]
    m = client.messages.create(model=model, max_tokens=256, messages=ask, tools=TOOLS)
    uses = [b for b in m.content if b.type == "tool_use"]
    check(f"{model} tool use", m.stop_reason == "tool_use" and len(uses) == 1, m)
    if uses:
        check(f"{model} tool input", uses[0].name == "get_weather"
              and uses[0].input == {"city": "Paris", "days": 3}, uses[0])
        follow = ask + [
            {"role": "assistant", "content": m.content},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": uses[0].id, "content": "sunny"}]},
        ]
        m2 = client.messages.create(model=model, max_tokens=256, messages=follow, tools=TOOLS)
        check(f"{model} tool result", m2.content and m2.content[0].text == "Tool said: sunny", m2)

    with client.messages.stream(
            model=model, max_tokens=256, tools=TOOLS,
            messages=[{"role": "user", "content": "two cities, parallel please"}]) as stream:
        final = stream.get_final_message()
    inputs = [b.input for b in final.content if b.type == "tool_use"]
    check(f"{model} streamed parallel tools",
          inputs == [{"city": "Paris", "days": 3}, {"city": "Tokyo", "days": 1}], final)

    try:
        client.messages.create(model=model, max_tokens=64,
                               messages=[{"role": "user", "content": "[mock:status=429]"}])
        check(f"{model} 429", False, "no error raised")
    except anthropic.RateLimitError as e:
        check(f"{model} 429", e.status_code == 429 and e.body["type"] == "error", e)


def main():
    root = os.environ["SY_ROOT_URL"]
    client = Anthropic(base_url=root, api_key=os.environ["SY_KEY"], max_retries=0)
    for model in os.environ["SY_MODELS"].split(","):
        run(client, model)
    try:
        client.messages.create(model="no-such-model", max_tokens=8,
                               messages=[{"role": "user", "content": "x"}])
        check("unknown model", False, "no error raised")
    except anthropic.NotFoundError as e:
        check("unknown model", e.status_code == 404, e)
    try:
        client.messages.create(model="x", messages=[{"role": "user", "content": "x"}],
                               max_tokens=8, extra_body={"max_tokens": "lots"})
        check("bad max_tokens", False, "no error raised")
    except anthropic.BadRequestError as e:
        check("bad max_tokens", e.status_code == 400 and "max_tokens" in str(e), e)
    try:
        Anthropic(base_url=root, api_key="sy_live_wrong", max_retries=0).messages.create(
            model="x", max_tokens=8, messages=[{"role": "user", "content": "x"}])
        check("wrong key", False, "no error raised")
    except anthropic.AuthenticationError as e:
        check("wrong key", e.status_code == 401, e)
    print(f"{len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
