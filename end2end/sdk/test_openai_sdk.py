"""The official OpenAI Python SDK against a real Tollgate: a model of an
OpenAI-compatible provider (same format) and of Anthropic and Gemini
providers (translated), plain and streamed, tools, the model list, and each
error as the SDK's own exception."""

import json

import openai
import pytest
from conftest import EMBEDDING_MODELS, MODELS, counts_tool_results, mock_reply

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    },
}


def client(gateway, key):
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0, timeout=20)


@pytest.mark.parametrize("model", MODELS)
def test_a_completion_has_the_mock_text_and_usage_and_is_charged_exactly(gateway, account, model):
    prompt = "Say hi to the OpenAI SDK please"
    raw = client(gateway, account.key()).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": prompt}]
    )
    completion = raw.parse()

    text, input_tokens, output_tokens = mock_reply(prompt)
    assert completion.choices[0].message.content == text
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        input_tokens,
        output_tokens,
        input_tokens + output_tokens,
    )
    account.assert_charged_rows(
        dict(
            request_id=raw.headers["x-request-id"],
            model=model,
            endpoint="chat_completions",
            streamed=False,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )
    )


@pytest.mark.parametrize("model", MODELS)
def test_a_streamed_completion_has_the_mock_text_and_usage_and_is_charged_exactly(gateway, account, model):
    prompt = "Stream a short greeting to the OpenAI SDK"
    stream = client(gateway, account.key()).chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        stream=True,
        stream_options={"include_usage": True},
    )
    request_id = stream.response.headers["x-request-id"]
    chunks = list(stream)

    text, input_tokens, output_tokens = mock_reply(prompt)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (input_tokens, output_tokens)
    account.assert_charged_rows(
        dict(
            request_id=request_id,
            model=model,
            endpoint="chat_completions",
            streamed=True,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )
    )


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("model", MODELS)
def test_a_tool_call_and_its_result_make_a_round_trip(gateway, account, model, streamed):
    api = client(gateway, account.key())
    question = {"role": "user", "content": "What is the weather in Paris"}
    if streamed:
        with api.chat.completions.stream(
            model=model, messages=[question], tools=[WEATHER_TOOL], stream_options={"include_usage": True}
        ) as stream:
            first = stream.get_final_completion()
    else:
        first = api.chat.completions.create(model=model, messages=[question], tools=[WEATHER_TOOL])

    # The mock calls the first tool offered with the last user text.
    assert first.choices[0].finish_reason == "tool_calls"
    [call] = first.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"query": "What is the weather in Paris"}
    assert (first.usage.prompt_tokens, first.usage.completion_tokens) == (6, 7)

    calling = {
        "role": "assistant",
        "tool_calls": [
            {"id": call.id, "type": "function", "function": {"name": "get_weather", "arguments": call.function.arguments}}
        ],
    }
    result = {"role": "tool", "tool_call_id": call.id, "content": "Sunny and warm"}
    second = api.chat.completions.create(model=model, messages=[question, calling, result], tools=[WEATHER_TOOL])

    assert second.choices[0].message.content == "The tool said: Sunny and warm"
    assert second.choices[0].finish_reason == "stop"
    second_input = 9 if counts_tool_results(model) else 6
    assert (second.usage.prompt_tokens, second.usage.completion_tokens) == (second_input, 6)
    common = {"model": model, "endpoint": "chat_completions"}
    account.assert_charged_rows(
        dict(**common, streamed=streamed, input_tokens=6, output_tokens=7),
        dict(**common, streamed=False, input_tokens=second_input, output_tokens=6),
    )


def test_the_model_list_names_the_models_of_both_formats_the_key_may_call(gateway, account):
    every = [m.id for m in client(gateway, account.key()).models.list()]
    only = [m.id for m in client(gateway, account.key(models=["claude-sonnet-4-6"])).models.list()]

    assert sorted(every) == sorted(["tollgate-mock", *MODELS, *EMBEDDING_MODELS])
    assert only == ["claude-sonnet-4-6"]


def test_embeddings_are_unit_vectors_charged_for_their_input_only(gateway, account):
    model = "text-embedding-3-small"
    api = client(gateway, account.key())
    texts = ["Embed these five words please", "and these three"]
    # The SDK asks for base64 and decodes it, as it does against OpenAI.
    raw = api.embeddings.with_raw_response.create(model=model, input=texts, dimensions=32)
    result = raw.parse()

    vectors = [item.embedding for item in result.data]
    assert [item.index for item in result.data] == [0, 1]
    assert [len(vector) for vector in vectors] == [32, 32]
    assert abs(sum(x * x for x in vectors[0]) - 1) < 1e-4
    assert api.embeddings.create(model=model, input=texts[0], dimensions=32).data[0].embedding == vectors[0]
    tokens = sum(len(text.split()) for text in texts)
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (tokens, tokens)
    row = {"model": model, "endpoint": "embeddings", "streamed": False, "output_tokens": 0}
    account.assert_charged_rows(
        {**row, "request_id": raw.headers["x-request-id"], "input_tokens": tokens},
        {**row, "input_tokens": len(texts[0].split())},
    )

    with pytest.raises(openai.BadRequestError) as caught:
        api.embeddings.create(model=model, input="")
    assert caught.value.param == "input"
    with pytest.raises(openai.BadRequestError) as caught:
        api.embeddings.create(model="claude-sonnet-4-6", input="a chat model")
    assert caught.value.param == "model"


ERRORS = {
    # what the request runs into: the SDK's exception, the status, OpenAI's error code
    "401 bad key": (openai.AuthenticationError, 401, "invalid_api_key"),
    "402 key quota": (openai.APIStatusError, 402, "insufficient_quota"),
    "402 no credits": (openai.APIStatusError, 402, "insufficient_quota"),
    "403 model not allowed": (openai.PermissionDeniedError, 403, "permission_denied"),
    "404 unknown model": (openai.NotFoundError, 404, "model_not_found"),
    "429 rate limit": (openai.RateLimitError, 429, "rate_limit_exceeded"),
}


def ask(api, endpoint, model, text):
    """One request to `endpoint`: chat completions, responses or embeddings."""
    if endpoint == "responses":
        return api.responses.create(model=model, input=text)
    if endpoint == "embeddings":
        return api.embeddings.create(model=model, input=text)
    return api.chat.completions.create(model=model, messages=[{"role": "user", "content": text}])


@pytest.mark.parametrize("endpoint", ["chat_completions", "responses", "embeddings"])
@pytest.mark.parametrize("case", ERRORS)
def test_each_refusal_surfaces_as_the_sdks_typed_exception_and_costs_nothing(gateway, case, endpoint):
    exception, status, code = ERRORS[case]
    account = gateway.account(
        credits=0 if case == "402 no credits" else 1_000_000,
        plan="trial" if case == "429 rate limit" else "pro",
    )
    model = "text-embedding-3-small" if endpoint == "embeddings" else "gpt-4.1"
    key = account.key()
    if case == "401 bad key":
        key = "tg-" + "x" * 48
    elif case == "402 key quota":
        key = account.key(quota_micro_credits=1)
    elif case == "403 model not allowed":
        key = account.key(models=["claude-sonnet-4-6"])
    elif case == "404 unknown model":
        model = "no-such-model"
    elif case == "429 rate limit":
        # Users register on `trial`; every other test's account is `pro`.
        gateway.admin.call("PUT", "/api/admin/rate-limits/trial", {"requests_per_minute": 1, "tokens_per_minute": 0})
        ask(client(gateway, key), endpoint, model, "one")

    with pytest.raises(openai.APIStatusError) as caught:
        ask(client(gateway, key), endpoint, model, "Hi")

    error = caught.value
    assert type(error) is exception
    assert (error.status_code, error.code) == (status, code)
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
        # Recorded with its status and endpoint, charged nothing.
        rows, credits = account.wait_for(requests=1, charges=0)
        assert (rows[-1]["id"], rows[-1]["endpoint"], rows[-1]["status_code"], rows[-1]["charged_micro_credits"]) == (
            error.response.headers["x-request-id"],
            endpoint,
            status,
            0,
        )
    account.assert_charged(rows, credits)
