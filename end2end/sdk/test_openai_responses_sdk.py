"""The official OpenAI Python SDK's `responses.create` against a real
Tollgate: a model of a provider of kind `openai_responses` (the Responses
API passed through) and models of chat-only providers (translated: OpenAI
chat completions, Anthropic's and Gemini's), plain and streamed, a function
tool's round trip, instructions, and the fields it refuses (the other
refusals: test_openai_sdk.py, for both endpoints)."""

import json

import openai
import pytest
from conftest import MODELS, assert_row, mock_reply

MODEL = "gpt-5-codex"  # on the `openai_responses` provider
CHAT_ONLY_MODEL = "gpt-4.1"  # on the `openai` provider: chat completions only

LOOKUP_TOOL = {
    "type": "function",
    "name": "lookup",
    "description": "Looks a question up",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
}


def client(gateway, key):
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0, timeout=20)


@pytest.mark.parametrize("model", MODELS)
def test_a_response_has_the_mock_text_and_usage_and_is_charged_exactly(gateway, account, model):
    prompt = "Say hi to the Responses API please"
    raw = client(gateway, account.key()).responses.with_raw_response.create(model=model, input=prompt)
    response = raw.parse()

    text, input_tokens, output_tokens = mock_reply(prompt)
    assert raw.status_code == 200
    assert response.status == "completed"
    assert [item.type for item in response.output] == ["message"]
    assert response.output_text == text
    usage = response.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (
        input_tokens,
        output_tokens,
        input_tokens + output_tokens,
    )
    account.assert_charged_rows(
        dict(
            request_id=raw.headers["x-request-id"],
            model=model,
            endpoint="responses",
            streamed=False,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
        )
    )


@pytest.mark.parametrize("model", MODELS)
def test_a_streamed_response_numbers_its_events_and_its_usage_is_charged_exactly(gateway, account, model):
    prompt = "Stream a short greeting to the Responses API"
    stream = client(gateway, account.key()).responses.create(model=model, input=prompt, stream=True)
    request_id = stream.response.headers["x-request-id"]
    events = list(stream)

    text, input_tokens, output_tokens = mock_reply(prompt)
    kinds = [event.type for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert kinds.count("response.completed") == 1
    assert [event.sequence_number for event in events] == list(range(len(events)))
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert len(deltas) > 1  # streamed in pieces, not in one
    assert "".join(deltas) == text
    completed = events[-1].response
    assert completed.status == "completed"
    assert completed.output_text == text
    usage = completed.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (
        input_tokens,
        output_tokens,
        input_tokens + output_tokens,
    )
    account.assert_charged_rows(
        dict(
            request_id=request_id,
            model=model,
            endpoint="responses",
            streamed=True,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
        )
    )


@pytest.mark.parametrize("model", [MODEL, CHAT_ONLY_MODEL])
@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
def test_a_function_call_and_its_output_make_a_round_trip(gateway, account, streamed, model):
    api = client(gateway, account.key())
    question = "What is the weather in Paris"
    if streamed:
        with api.responses.stream(model=model, input=question, tools=[LOOKUP_TOOL]) as stream:
            first = stream.get_final_response()
    else:
        first = api.responses.create(model=model, input=question, tools=[LOOKUP_TOOL])

    # The mock calls the first function tool offered with the last user text.
    assert [item.type for item in first.output] == ["function_call"]
    call = first.output[0]
    assert call.name == "lookup"
    assert json.loads(call.arguments) == {"query": question}
    assert first.output_text == ""
    # The mock counts a call as its arguments' words and one more.
    first_usage = (len(question.split()), len(call.arguments.split()) + 1)
    assert (first.usage.input_tokens, first.usage.output_tokens) == first_usage

    result = "Sunny and warm"
    second = api.responses.create(
        model=model,
        tools=[LOOKUP_TOOL],
        input=[
            {"role": "user", "content": question},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": result},
        ],
    )

    assert second.output_text.startswith("The tool said:")
    assert second.output_text == f"The tool said: {result}"
    # The question's words and the tool output's are the input.
    second_usage = (len(question.split()) + len(result.split()), len(second.output_text.split()))
    assert (second.usage.input_tokens, second.usage.output_tokens) == second_usage
    common = {"model": model, "endpoint": "responses"}
    account.assert_charged_rows(
        dict(**common, streamed=streamed, input_tokens=first_usage[0], output_tokens=first_usage[1]),
        dict(**common, streamed=False, input_tokens=second_usage[0], output_tokens=second_usage[1]),
    )


def test_instructions_are_passed_on_and_counted_as_input(gateway, account):
    api = client(gateway, account.key())
    prompt = "Answer the Responses API briefly"
    instructions = "You are terse and exact"

    plain = api.responses.create(model=MODEL, input=prompt)
    raw = api.responses.with_raw_response.create(model=MODEL, input=prompt, instructions=instructions)
    instructed = raw.parse()

    text, input_tokens, output_tokens = mock_reply(prompt)
    assert raw.status_code == 200
    assert (plain.output_text, instructed.output_text) == (text, text)
    assert (plain.usage.input_tokens, plain.usage.output_tokens) == (input_tokens, output_tokens)
    # The mock counts the instructions' words as input, as a provider would.
    assert instructed.usage.input_tokens > plain.usage.input_tokens
    assert (instructed.usage.input_tokens, instructed.usage.output_tokens) == (
        input_tokens + len(instructions.split()),
        output_tokens,
    )
    rows, credits = account.wait_for(requests=2, charges=2)
    common = {"model": MODEL, "endpoint": "responses", "streamed": False}
    assert_row(rows[0], **common, input_tokens=plain.usage.input_tokens, output_tokens=plain.usage.output_tokens)
    assert_row(
        rows[1],
        **common,
        request_id=raw.headers["x-request-id"],
        input_tokens=instructed.usage.input_tokens,
        output_tokens=instructed.usage.output_tokens,
    )
    account.assert_charged(rows, credits)


# Each refusal as the SDK's typed exception, on responses as on chat
# completions: test_openai_sdk.py.


def test_a_previous_response_id_is_refused_naming_the_field_and_costs_nothing(gateway, account):
    with pytest.raises(openai.APIStatusError) as caught:
        client(gateway, account.key()).responses.create(model=MODEL, input="Go on", previous_response_id="resp_1")

    error = caught.value
    assert type(error) is openai.BadRequestError
    assert error.status_code == 400
    assert error.body["param"] == "previous_response_id"
    assert error.param == "previous_response_id"
    assert "previous_response_id" in error.body["message"]
    rows, credits = account.wait_for(requests=0, charges=0)
    account.assert_charged(rows, credits)
    assert credits["balance_micro_credits"] == account.granted
