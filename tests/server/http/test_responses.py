"""The Responses API (POST /v1/responses) with the openai SDK: text and message-list input,
instructions, streaming events, structured text output, function tools over two turns, and the
400s for what a stateless server cannot do."""
import json

import pydantic
import requests

from test_tools import MODEL_ID

WEATHER = {"type": "function", "name": "get_weather", "description": "Current weather in a city",
           "parameters": {"type": "object", "additionalProperties": False,
                          "properties": {"city": {"type": "string", "maxLength": 30}},
                          "required": ["city"]}}


def test_text_input_with_instructions(client):
    r = client.responses.create(model=MODEL_ID, input="Name three colours.",
                                instructions="Answer in one short sentence.",
                                max_output_tokens=40, temperature=0)
    assert r.object == "response" and r.id.startswith("resp_")
    assert r.status in ("completed", "incomplete")
    assert r.output_text and r.output[0].type == "message"
    assert r.instructions == "Answer in one short sentence."
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    # The instructions reached the prompt (as its system message): longer ones, longer prompt.
    longer = client.responses.create(
        model=MODEL_ID, input="Name three colours.", max_output_tokens=1, temperature=0,
        instructions="Answer in one short sentence. Never use more than ten words in total.")
    assert longer.usage.input_tokens > r.usage.input_tokens + 5


def test_length_makes_an_incomplete_response(client):
    r = client.responses.create(model=MODEL_ID, input="Tell me a long story.",
                                max_output_tokens=5, temperature=0)
    assert r.status == "incomplete"
    assert r.incomplete_details.reason == "max_output_tokens"
    assert r.usage.output_tokens == 5


def test_streaming_events_in_order(client):
    stream = client.responses.create(
        model=MODEL_ID, input=[{"role": "user", "content": [{"type": "input_text",
                                                             "text": "Say hello."}]}],
        max_output_tokens=80, temperature=0, stream=True)
    events = list(stream)
    types = [e.type for e in events]
    assert types[:4] == ["response.created", "response.in_progress",
                         "response.output_item.added", "response.content_part.added"]
    assert types[-4:-1] == ["response.output_text.done", "response.content_part.done",
                            "response.output_item.done"]
    assert types[-1] in ("response.completed", "response.incomplete")
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text and events[-1].response.output_text == text
    # The same text as asked without streaming.
    whole = client.responses.create(model=MODEL_ID, input="Say hello.", max_output_tokens=80,
                                    temperature=0)
    assert whole.output_text == text


def test_structured_text_output(client):
    class City(pydantic.BaseModel):
        name: str = pydantic.Field(max_length=30)
        country: str = pydantic.Field(max_length=30)

    r = client.responses.parse(model=MODEL_ID, input="Name a city in Italy.", text_format=City,
                               max_output_tokens=80, temperature=0.7)
    assert isinstance(r.output_parsed, City)


def test_function_call_then_its_output(tc):
    r = tc.responses.create(model=MODEL_ID, input="What is the weather in Rome?", tools=[WEATHER],
                            tool_choice="required", parallel_tool_calls=False,
                            max_output_tokens=80, temperature=0)
    calls = [o for o in r.output if o.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert calls[0].call_id.startswith("call_") and calls[0].status == "completed"
    assert set(json.loads(calls[0].arguments)) == {"city"}
    follow = tc.responses.create(
        model=MODEL_ID, tools=[WEATHER], max_output_tokens=20, temperature=0,
        input=[{"role": "user", "content": "What is the weather in Rome?"},
               {"type": "function_call", "call_id": calls[0].call_id, "name": calls[0].name,
                "arguments": calls[0].arguments},
               {"type": "function_call_output", "call_id": calls[0].call_id,
                "output": "22 degrees and sunny"}])
    assert follow.status in ("completed", "incomplete")
    # The call and its output were rendered into the second prompt.
    assert follow.usage.input_tokens > r.usage.input_tokens + 10

    stream = tc.responses.create(model=MODEL_ID, input="Weather in Oslo?", tools=[WEATHER],
                                 tool_choice={"type": "function", "name": "get_weather"},
                                 max_output_tokens=80, temperature=0, stream=True)
    events = list(stream)
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert len(done) == 1 and set(json.loads(done[0].arguments)) == {"city"}
    assert events[-1].type == "response.completed"


def test_what_a_stateless_server_cannot_do_is_a_400(server):
    for body, param in [
        ({"input": "hi", "previous_response_id": "resp_1"}, "previous_response_id"),
        ({}, "input"),
        ({"input": [{"type": "reasoning"}]}, "input[0].type"),
        ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]},
         "input[0].content[0].type"),
        ({"input": "hi", "tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"input": "hi", "text": {"format": {"type": "json_schema", "name": "x",
                                             "schema": {"type": "array", "uniqueItems": True}}}},
         "text.format.schema"),
    ]:
        r = requests.post(server.url + "/v1/responses", json=body, timeout=30)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["param"] == param, r.text
