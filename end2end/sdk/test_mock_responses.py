"""The mock upstream speaks OpenAI's Responses API as the official SDK reads
it: `responses.create` and the SDK's own stream accumulator (which checks
the event sequence) parse its answers, usage included. The mock is what
Tollgate's Responses support will be tested against, so its fidelity is
checked here first, with the real client and no Tollgate in between."""

import openai
import pytest

from conftest import env, mock_reply

TOOLS = [{"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}]


@pytest.fixture
def mock():
    return openai.OpenAI(base_url=env("TOLLGATE_MOCK_URL") + "/v1", api_key="sk-mock", max_retries=0)


def test_a_response_has_the_mock_text_instructions_counted_and_reasoning_tokens(mock):
    # Act
    response = mock.responses.create(model="gpt-reasoning", instructions="be brief", input="one two three")

    # Assert
    text, input_tokens, output_tokens = mock_reply("one two three")
    assert response.status == "completed"
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.output_text == text
    assert response.usage.input_tokens == input_tokens + 2
    assert response.usage.output_tokens_details.reasoning_tokens == 8
    assert response.usage.output_tokens == output_tokens + 8


def test_the_sdks_stream_accumulator_rebuilds_the_streamed_text_and_usage(mock):
    # Act
    with mock.responses.stream(model="gpt", input="a b c") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()

    # Assert
    text, input_tokens, output_tokens = mock_reply("a b c")
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert final.output_text == text
    assert final.usage.total_tokens == input_tokens + output_tokens


def test_a_function_call_streams_its_arguments_and_its_output_is_answered(mock):
    # Act
    with mock.responses.stream(model="gpt", input="find it", tools=TOOLS) as stream:
        arguments = "".join(event.delta for event in stream if event.type == "response.function_call_arguments.delta")
        call = stream.get_final_response().output[0]
    answer = mock.responses.create(
        model="gpt",
        tools=TOOLS,
        input=[
            {"role": "user", "content": "find it"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "42"},
        ],
    )

    # Assert
    assert (call.type, call.name, call.arguments) == ("function_call", "lookup", '{"query":"find it"}')
    assert arguments == call.arguments
    assert answer.output_text == "The tool said: 42"


def test_a_custom_tool_call_carries_its_input_as_plain_text(mock):
    with mock.responses.stream(model="gpt", input="*** Begin Patch", tools=[{"type": "custom", "name": "apply_patch"}]) as stream:
        for _ in stream:
            pass
        call = stream.get_final_response().output[0]

    assert (call.type, call.name, call.input) == ("custom_tool_call", "apply_patch", "*** Begin Patch")


def test_an_output_cap_is_incomplete_and_an_error_model_is_the_sdks_typed_exception(mock):
    capped = mock.responses.create(model="gpt", input="hi", max_output_tokens=2)

    assert capped.status == "incomplete"
    assert capped.incomplete_details.reason == "max_output_tokens"
    with pytest.raises(openai.RateLimitError):
        mock.responses.create(model="gpt-429", input="x")
