"""Google's google-genai Python SDK against a real Tollgate, which it calls as
Gemini's API: a model of a Gemini provider (same format) and models of
OpenAI-compatible and Anthropic providers (translated), plain and streamed,
a system instruction and an output cap, token counting, a function call's
round trip, the model list, and each refusal as the SDK's own exception."""

import json
import math

import pytest
from conftest import MODELS, counts_tool_results, mock_reply
from google import genai
from google.genai import errors, types

MODEL = "gemini-2.5-flash"  # on the `gemini` provider
# The same format, and a model of each chat provider Gemini's requests are
# translated for.
GENERATING = [MODEL, "gpt-4.1", "claude-sonnet-4-6"]

WEATHER_TOOL = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="The weather in a city",
            parameters_json_schema={
                "type": "object",
                "properties": {"query": {"type": "string"}},
                "required": ["query"],
            },
        )
    ]
)


def client(gateway, key, api_version=None):
    """The SDK as the README sets it up: Tollgate as the base URL, its key as
    the API key (sent in `x-goog-api-key`); without an `api_version` the
    SDK's own (`v1`). Keep the client while its calls run: it closes its
    connections when collected."""
    options = types.HttpOptions(base_url=gateway.url, api_version=api_version, timeout=20_000)
    return genai.Client(api_key=key, http_options=options)


def request_id(answer):
    return answer.sdk_http_response.headers["x-request-id"]


def assert_usage(usage, input_tokens, output_tokens):
    """Gemini's usage: no cached or thinking tokens from these models."""
    assert (
        usage.prompt_token_count,
        usage.candidates_token_count,
        usage.total_token_count,
        usage.cached_content_token_count,
        usage.thoughts_token_count,
    ) == (input_tokens, output_tokens, input_tokens + output_tokens, None, None)


@pytest.mark.parametrize("model", GENERATING)
def test_generated_content_has_the_mock_text_and_usage_and_is_charged_exactly(gateway, account, model):
    api = client(gateway, account.key())
    prompt = "Say hi to the Gemini SDK please"

    answer = api.models.generate_content(model=model, contents=prompt)

    text, input_tokens, output_tokens = mock_reply(prompt)
    assert answer.text == text
    [candidate] = answer.candidates
    assert candidate.finish_reason == types.FinishReason.STOP
    assert_usage(answer.usage_metadata, input_tokens, output_tokens)
    account.assert_charged_rows(
        dict(
            request_id=request_id(answer),
            model=model,
            endpoint="generate_content",
            streamed=False,
            input_tokens=answer.usage_metadata.prompt_token_count,
            output_tokens=answer.usage_metadata.candidates_token_count,
        )
    )


@pytest.mark.parametrize("model", GENERATING)
def test_streamed_content_has_the_mock_text_and_usage_and_is_charged_exactly(gateway, account, model):
    api = client(gateway, account.key())
    prompt = "Stream a short greeting to the Gemini SDK"

    chunks = list(api.models.generate_content_stream(model=model, contents=prompt))

    text, input_tokens, output_tokens = mock_reply(prompt)
    assert len(chunks) > 1  # streamed in pieces, not in one
    assert "".join(chunk.text or "" for chunk in chunks) == text
    finished = [c.candidates[0].finish_reason for c in chunks if c.candidates and c.candidates[0].finish_reason]
    assert finished == [types.FinishReason.STOP]
    # The last chunk carries the final usage, as Gemini sends it.
    assert_usage(chunks[-1].usage_metadata, input_tokens, output_tokens)
    assert len({request_id(chunk) for chunk in chunks}) == 1
    account.assert_charged_rows(
        dict(
            request_id=request_id(chunks[0]),
            model=model,
            endpoint="generate_content",
            streamed=True,
            input_tokens=chunks[-1].usage_metadata.prompt_token_count,
            output_tokens=chunks[-1].usage_metadata.candidates_token_count,
        )
    )


@pytest.mark.parametrize("model", GENERATING)
def test_a_system_instruction_is_read_and_the_output_cap_holds(gateway, account, model):
    api = client(gateway, account.key())
    prompt = "Say hi to the Gemini SDK please"
    instruction = "You are terse and exact"
    config = types.GenerateContentConfig(system_instruction=instruction, max_output_tokens=5)

    answer = api.models.generate_content(model=model, contents=prompt, config=config)

    text, input_tokens, _ = mock_reply(prompt)
    # The mock counts the instruction's words as input, as a provider would.
    assert answer.text == " ".join(text.split()[:5])
    assert answer.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert_usage(answer.usage_metadata, input_tokens + len(instruction.split()), 5)
    account.assert_charged_rows(
        dict(
            request_id=request_id(answer),
            model=model,
            endpoint="generate_content",
            streamed=False,
            input_tokens=input_tokens + len(instruction.split()),
            output_tokens=5,
        )
    )


@pytest.mark.parametrize("model", GENERATING)
def test_counting_tokens_asks_a_gemini_provider_estimates_the_others_and_costs_nothing(gateway, account, model):
    api = client(gateway, account.key())
    short, long = "Count these five words please", "Count these words please, and many more of them after those"

    counted = [api.models.count_tokens(model=model, contents=prompt).total_tokens for prompt in (short, long)]

    # A Gemini provider counts with its tokenizer (the mock's: a token a
    # word); for the others Tollgate estimates four bytes a token of the
    # contents as the SDK sends them.
    def expected(prompt):
        if model == MODEL:
            return len(prompt.split())
        contents = [{"parts": [{"text": prompt}], "role": "user"}]
        return math.ceil(len(json.dumps(contents, separators=(",", ":"))) / 4)

    assert counted == [expected(short), expected(long)]
    assert counted[0] < counted[1]
    rows, credits = account.wait_for(requests=0, charges=0)
    account.assert_charged(rows, credits)
    assert credits["balance_micro_credits"] == account.granted


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("model", GENERATING)
def test_a_function_call_and_its_response_make_a_round_trip(gateway, account, model, streamed):
    api = client(gateway, account.key())
    question = "What is the weather in Paris"
    asking = types.Content(role="user", parts=[types.Part(text=question)])
    config = types.GenerateContentConfig(tools=[WEATHER_TOOL])
    if streamed:
        chunks = list(api.models.generate_content_stream(model=model, contents=[asking], config=config))
        calls = [call for chunk in chunks for call in chunk.function_calls or []]
        first_usage = chunks[-1].usage_metadata
    else:
        first = api.models.generate_content(model=model, contents=[asking], config=config)
        calls, first_usage = first.function_calls, first.usage_metadata

    # The mock calls the first function declared with the last user text.
    [call] = calls
    assert (call.name, call.args) == ("get_weather", {"query": question})
    assert call.id  # so that the response can name it
    # The mock counts a call as its arguments' words and one more.
    assert_usage(first_usage, 6, 7)

    calling = types.Content(role="model", parts=[types.Part(function_call=call)])
    result = types.Part.from_function_response(name=call.name, response={"result": "Sunny and warm"})
    result.function_response.id = call.id
    second = api.models.generate_content(
        model=model, contents=[asking, calling, types.Content(role="user", parts=[result])], config=config
    )

    assert second.text == "The tool said: Sunny and warm"
    assert second.candidates[0].finish_reason == types.FinishReason.STOP
    second_input = 9 if counts_tool_results(model) else 6
    assert_usage(second.usage_metadata, second_input, 6)
    common = {"model": model, "endpoint": "generate_content"}
    account.assert_charged_rows(
        dict(**common, streamed=streamed, input_tokens=6, output_tokens=7),
        dict(**common, streamed=False, input_tokens=second_input, output_tokens=6),
    )


# `None`: the SDK's default API version, `v1`, where Tollgate answers in
# Gemini's shape because the key comes as `x-goog-api-key`.
@pytest.mark.parametrize("api_version", ["v1beta", None])
def test_the_model_list_names_the_chat_models_the_key_may_call(gateway, account, api_version):
    every = client(gateway, account.key(), api_version)
    only = client(gateway, account.key(models=["gpt-4.1"]), api_version)

    names = [model.name for model in every.models.list()]
    described = every.models.get(model=MODEL)

    assert sorted(names) == sorted(f"models/{name}" for name in ["tollgate-mock", *MODELS])  # no embedding models
    assert [model.name for model in only.models.list()] == ["models/gpt-4.1"]
    assert described.name == f"models/{MODEL}"
    assert "generateContent" in described.supported_actions


ERRORS = {
    # what the request runs into: the status and Google's status name (every
    # 4xx is the SDK's ClientError)
    "400 two candidates": (400, "INVALID_ARGUMENT"),
    "401 bad key": (401, "UNAUTHENTICATED"),
    "402 key quota": (402, "RESOURCE_EXHAUSTED"),
    "402 no credits": (402, "RESOURCE_EXHAUSTED"),
    "403 model not allowed": (403, "PERMISSION_DENIED"),
    "404 unknown model": (404, "NOT_FOUND"),
    "429 rate limit": (429, "RESOURCE_EXHAUSTED"),
}


@pytest.mark.parametrize("case", ERRORS)
def test_each_refusal_surfaces_as_the_sdks_typed_exception_and_costs_nothing(gateway, case):
    status, name = ERRORS[case]
    account = gateway.account(
        credits=0 if case == "402 no credits" else 1_000_000,
        plan="trial" if case == "429 rate limit" else "pro",
    )
    model, config = MODEL, None
    key = account.key()
    if case == "400 two candidates":
        config = types.GenerateContentConfig(candidate_count=2)
    elif case == "401 bad key":
        key = "tg-" + "x" * 48
    elif case == "402 key quota":
        key = account.key(quota_micro_credits=1)
    elif case == "403 model not allowed":
        key = account.key(models=["gpt-4.1"])
    elif case == "404 unknown model":
        model = "no-such-model"
    api = client(gateway, key)
    if case == "429 rate limit":
        # Users register on `trial`; every other test's account is `pro`.
        gateway.admin.call("PUT", "/api/admin/rate-limits/trial", {"requests_per_minute": 1, "tokens_per_minute": 0})
        api.models.generate_content(model=model, contents="one")

    with pytest.raises(errors.APIError) as caught:
        api.models.generate_content(model=model, contents="Hi", config=config)

    error = caught.value
    assert type(error) is errors.ClientError
    assert (error.code, error.status) == (status, name)
    assert error.details["error"]["code"] == status
    if status == 400:
        assert "candidateCount" in error.message
    if status == 429:
        assert error.response.headers["retry-after"] == "60"
    if status == 401:
        return  # no key, no account to record it against
    request = error.response.headers["x-request-id"]
    if status in (400, 404, 429):
        # Refused before admission: counted by the gateway, never a usage
        # row, and charged nothing (the first request of the 429 case is).
        rows, credits = account.wait_for(requests=1 if status == 429 else 0, charges=1 if status == 429 else 0)
        assert request not in [row["id"] for row in rows]
    else:
        # Recorded with its status and endpoint, charged nothing.
        rows, credits = account.wait_for(requests=1, charges=0)
        assert (rows[-1]["id"], rows[-1]["endpoint"], rows[-1]["status_code"], rows[-1]["charged_micro_credits"]) == (
            request,
            "generate_content",
            status,
            0,
        )
    account.assert_charged(rows, credits)
