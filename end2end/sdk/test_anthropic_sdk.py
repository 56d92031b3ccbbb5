"""The official Anthropic Python SDK against a real Tollgate: a model of an
Anthropic provider (same format) and of OpenAI-compatible and Gemini
providers (translated), plain and streamed, tools, the model list, and each
error as the SDK's own exception."""

import anthropic
import pytest
from conftest import MODELS, counts_tool_results, mock_reply

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
}


def client(gateway, key):
    return anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=20)


@pytest.mark.parametrize("model", MODELS)
def test_a_message_has_the_mock_text_and_usage_and_is_charged_exactly(gateway, account, model):
    prompt = "Say hi to the Anthropic SDK please"
    raw = client(gateway, account.key()).messages.with_raw_response.create(
        model=model, max_tokens=100, messages=[{"role": "user", "content": prompt}]
    )
    message = raw.parse()

    text, input_tokens, output_tokens = mock_reply(prompt)
    assert [(block.type, block.text) for block in message.content] == [("text", text)]
    assert message.stop_reason == "end_turn"
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (
        input_tokens,
        output_tokens,
        0,
        0,
    )
    account.assert_charged_rows(
        dict(
            request_id=raw.headers["x-request-id"],
            model=model,
            endpoint="messages",
            streamed=False,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )
    )


@pytest.mark.parametrize("model", MODELS)
def test_a_streamed_message_has_the_mock_text_and_usage_and_is_charged_exactly(gateway, account, model):
    prompt = "Stream a short greeting to the Anthropic SDK"
    with client(gateway, account.key()).messages.stream(
        model=model, max_tokens=100, messages=[{"role": "user", "content": prompt}]
    ) as stream:
        streamed_text = "".join(stream.text_stream)
        message = stream.get_final_message()
        request_id = stream.response.headers["x-request-id"]

    text, input_tokens, output_tokens = mock_reply(prompt)
    assert streamed_text == text
    assert [(block.type, block.text) for block in message.content] == [("text", text)]
    assert message.stop_reason == "end_turn"
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (
        input_tokens,
        output_tokens,
        0,
        0,
    )
    account.assert_charged_rows(
        dict(
            request_id=request_id,
            model=model,
            endpoint="messages",
            streamed=True,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )
    )


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("model", MODELS)
def test_a_tool_use_and_its_result_make_a_round_trip(gateway, account, model, streamed):
    api = client(gateway, account.key())
    question = {"role": "user", "content": "What is the weather in Paris"}
    if streamed:
        with api.messages.stream(model=model, max_tokens=100, messages=[question], tools=[WEATHER_TOOL]) as stream:
            first = stream.get_final_message()
    else:
        first = api.messages.create(model=model, max_tokens=100, messages=[question], tools=[WEATHER_TOOL])

    # The mock calls the first tool offered with the last user text.
    assert first.stop_reason == "tool_use"
    [use] = first.content
    assert (use.type, use.name, use.input) == ("tool_use", "get_weather", {"query": "What is the weather in Paris"})
    assert (first.usage.input_tokens, first.usage.output_tokens) == (6, 7)

    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "Sunny and warm"}]}
    second = api.messages.create(
        model=model,
        max_tokens=100,
        messages=[question, {"role": "assistant", "content": first.content}, result],
        tools=[WEATHER_TOOL],
    )

    assert [(block.type, block.text) for block in second.content] == [("text", "The tool said: Sunny and warm")]
    assert second.stop_reason == "end_turn"
    second_input = 9 if counts_tool_results(model) else 6
    assert (second.usage.input_tokens, second.usage.output_tokens) == (second_input, 6)
    common = {"model": model, "endpoint": "messages"}
    account.assert_charged_rows(
        dict(**common, streamed=streamed, input_tokens=6, output_tokens=7),
        dict(**common, streamed=False, input_tokens=second_input, output_tokens=6),
    )


def test_the_model_list_names_the_models_of_both_formats_the_key_may_call(gateway, account):
    every = [m.id for m in client(gateway, account.key()).models.list()]
    only = [m.id for m in client(gateway, account.key(models=["gpt-4.1"])).models.list()]

    assert sorted(every) == sorted(["tollgate-mock", *MODELS])  # embedding models are not for messages
    assert only == ["gpt-4.1"]


ERRORS = {
    # what the request runs into: the SDK's exception, the status, Anthropic's error type
    "401 bad key": (anthropic.AuthenticationError, 401, "authentication_error"),
    "402 key quota": (anthropic.PaymentRequiredError, 402, "billing_error"),
    "402 no credits": (anthropic.PaymentRequiredError, 402, "billing_error"),
    "403 model not allowed": (anthropic.PermissionDeniedError, 403, "permission_error"),
    "404 unknown model": (anthropic.NotFoundError, 404, "not_found_error"),
    "429 rate limit": (anthropic.RateLimitError, 429, "rate_limit_error"),
}


@pytest.mark.parametrize("case", ERRORS)
def test_each_refusal_surfaces_as_the_sdks_typed_exception_and_costs_nothing(gateway, case):
    exception, status, kind = ERRORS[case]
    account = gateway.account(
        credits=0 if case == "402 no credits" else 1_000_000,
        plan="trial" if case == "429 rate limit" else "pro",
    )
    model = "claude-sonnet-4-6"
    key = account.key()
    if case == "401 bad key":
        key = "tg-" + "x" * 48
    elif case == "402 key quota":
        key = account.key(quota_micro_credits=1)
    elif case == "403 model not allowed":
        key = account.key(models=["gpt-4.1"])
    elif case == "404 unknown model":
        model = "no-such-model"
    elif case == "429 rate limit":
        # Users register on `trial`; every other test's account is `pro`.
        gateway.admin.call("PUT", "/api/admin/rate-limits/trial", {"requests_per_minute": 1, "tokens_per_minute": 0})
        client(gateway, key).messages.create(model=model, max_tokens=10, messages=[{"role": "user", "content": "one"}])

    with pytest.raises(anthropic.APIStatusError) as caught:
        client(gateway, key).messages.create(model=model, max_tokens=10, messages=[{"role": "user", "content": "Hi"}])

    error = caught.value
    assert type(error) is exception
    assert (error.status_code, error.body["type"], error.body["error"]["type"]) == (status, "error", kind)
    if status == 429:
        assert error.response.headers["retry-after"] == "60"
        assert 59_000 < int(error.response.headers["retry-after-ms"]) <= 60_000
    if status == 401:
        return  # no key, no account to record it against
    if status in (404, 429):
        # Refused before admission: counted by the gateway, never a usage
        # row (a flood of them must not fill its writer), and charged nothing.
        rows, credits = account.wait_for(requests=1 if status == 429 else 0, charges=1 if status == 429 else 0)
        assert error.response.headers["x-request-id"] not in [row["id"] for row in rows]
    else:
        # Recorded with its status, charged nothing.
        rows, credits = account.wait_for(requests=1, charges=0)
        assert (rows[-1]["id"], rows[-1]["status_code"], rows[-1]["charged_micro_credits"]) == (
            error.response.headers["x-request-id"],
            status,
            0,
        )
    account.assert_charged(rows, credits)
