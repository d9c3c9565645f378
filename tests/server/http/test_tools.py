"""Tool calling against the real binary with the openai SDK and langchain-openai (the server is
conftest's tool_server: the default model with a chat template that offers tools)."""
import json
import os

import openai
import pydantic
import pytest
import requests

from server_process import MODEL

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "additionalProperties": False,
                   "properties": {"city": {"type": "string", "maxLength": 30},
                                  "unit": {"enum": ["celsius", "fahrenheit"]}},
                   "required": ["city", "unit"]}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "Current time in a timezone",
    "parameters": {"type": "object", "properties": {"tz": {"type": "string", "maxLength": 30}},
                   "required": ["tz"], "additionalProperties": False}}}
ASK = [{"role": "user", "content": "What is the weather in Paris right now?"}]
MODEL_ID = os.path.splitext(os.path.basename(MODEL))[0]  # the served name: the file's stem


def check_weather_call(call):
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    args = json.loads(call.function.arguments)
    assert set(args) == {"city", "unit"} and args["unit"] in ("celsius", "fahrenheit")
    assert isinstance(args["city"], str)


def test_required_gives_a_call_with_schema_arguments(tc):
    r = tc.chat.completions.create(model=MODEL_ID, messages=ASK, tools=[WEATHER, TIME],
                                   tool_choice="required", parallel_tool_calls=False,
                                   temperature=0.8, seed=1, max_tokens=120)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert len(choice.message.tool_calls) == 1
    assert choice.message.tool_calls[0].function.name in ("get_weather", "get_time")
    json.loads(choice.message.tool_calls[0].function.arguments)


def test_a_named_function_is_the_one_called(tc):
    for name in ("get_weather", "get_time"):
        r = tc.chat.completions.create(
            model=MODEL_ID, messages=ASK, tools=[WEATHER, TIME], temperature=1.0, seed=3,
            tool_choice={"type": "function", "function": {"name": name}}, max_tokens=120)
        calls = r.choices[0].message.tool_calls
        assert r.choices[0].finish_reason == "tool_calls" and len(calls) == 1
        assert calls[0].function.name == name
        if name == "get_weather":
            check_weather_call(calls[0])


def test_streamed_tool_calls_arrive_as_deltas(tc):
    stream = tc.chat.completions.create(
        model=MODEL_ID, messages=ASK, tools=[WEATHER], stream=True, temperature=0, max_tokens=120,
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    calls, content, finish = {}, "", None
    for chunk in stream:
        delta = chunk.choices[0].delta
        content += delta.content or ""
        for tc_delta in delta.tool_calls or []:
            entry = calls.setdefault(tc_delta.index, {"id": None, "name": "", "arguments": ""})
            entry["id"] = tc_delta.id or entry["id"]
            entry["name"] += tc_delta.function.name or ""
            entry["arguments"] += tc_delta.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert content == ""  # the call's own text never leaks as content
    assert list(calls) == [0] and calls[0]["name"] == "get_weather"
    assert calls[0]["id"].startswith("call_")
    assert set(json.loads(calls[0]["arguments"])) == {"city", "unit"}


def test_auto_answers_with_text_or_well_formed_calls(tc):
    r = tc.chat.completions.create(model=MODEL_ID, messages=ASK, tools=[WEATHER], temperature=0,
                                   max_tokens=60)
    m = r.choices[0].message
    if m.tool_calls:
        assert r.choices[0].finish_reason == "tool_calls"
        for call in m.tool_calls:
            check_weather_call(call)
    else:
        assert m.content and "<tool_call>" not in m.content


def test_tool_calls_and_results_stay_in_the_history(tc, tool_server):
    call = {"id": "call_1", "type": "function",
            "function": {"name": "get_weather",
                         "arguments": json.dumps({"city": "Paris", "unit": "celsius"})}}
    history = ASK + [{"role": "assistant", "content": None, "tool_calls": [call]},
                     {"role": "tool", "tool_call_id": "call_1", "content": "18 degrees, sunny"}]
    with_calls = tc.chat.completions.create(model=MODEL_ID, messages=history, tools=[WEATHER],
                                            max_tokens=1, temperature=0)
    without = tc.chat.completions.create(
        model=MODEL_ID, messages=ASK + [{"role": "assistant", "content": None},
                                   {"role": "tool", "tool_call_id": "call_1", "content": "x"}],
        tools=[WEATHER], max_tokens=1, temperature=0)
    # The call (name and arguments) and the result's text were rendered into the prompt.
    assert with_calls.usage.prompt_tokens > without.usage.prompt_tokens + 10


def test_langchain_bind_tools_and_function_calling_output(tool_server):
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    @tool
    def get_weather(city: str, unit: str) -> str:
        """Current weather in a city; unit is celsius or fahrenheit."""
        return "sunny"

    llm = ChatOpenAI(base_url=tool_server.url + "/v1", api_key="unused", model=MODEL_ID,
                     temperature=0, max_tokens=120, max_retries=0)
    reply = llm.bind_tools([get_weather], tool_choice="get_weather").invoke(ASK[0]["content"])
    assert reply.tool_calls and reply.tool_calls[0]["name"] == "get_weather"
    assert set(reply.tool_calls[0]["args"]) == {"city", "unit"}

    class City(pydantic.BaseModel):
        name: str = pydantic.Field(max_length=30)
        country: str = pydantic.Field(max_length=30)

    city = llm.with_structured_output(City, method="function_calling").invoke(
        "Name a city in Italy.")
    assert isinstance(city, City)


def test_tools_without_template_support_are_a_400(server, model_id):
    # The default model's own template does not offer tools to the model.
    body = {"model": model_id, "messages": ASK, "max_tokens": 4, "tools": [WEATHER]}
    r = requests.post(server.url + "/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "tools"
    r = requests.post(server.url + "/v1/chat/completions", timeout=30,
                      json={**body, "tool_choice": "none"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("extra, param", [
    ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
     "tool_choice"),
    ({"tools": [{"type": "function", "function": {"name": "a b"}}]}, "tools[0].function.name"),
    ({"tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "array", "uniqueItems": True}}}]},
     "tools[0].function.parameters"),
    ({"tools": [WEATHER], "tool_choice": "required",
      "response_format": {"type": "json_object"}}, "tool_choice"),
    ({"messages": ASK + [{"role": "assistant", "tool_calls": [{"type": "function"}]}]},
     "messages[1].tool_calls[0].function"),
])
def test_bad_tool_requests_are_400s_naming_the_field(tool_server, extra, param):
    body = {"model": MODEL_ID, "messages": ASK, "max_tokens": 4, **extra}
    r = requests.post(tool_server.url + "/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param
