"""Fixtures for the Python SDK tests: a real Tollgate and a real mock
upstream, started by `end2end/sdk/run.sh`, set up through the admin API.

Every test gets accounts of its own (a user with credits and keys), so its
usage rows, ledger and balance hold nothing but its own requests.
"""

import json
import os
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass

import pytest

# Micro-credits per million tokens (= micro-credits per token × 10⁶), and
# the format of the provider each model is on.
MODELS = {
    "gpt-4.1": {"provider": "openai", "input_price": 2_000_000, "output_price": 8_000_000},
    "claude-sonnet-4-6": {"provider": "anthropic", "input_price": 3_000_000, "output_price": 15_000_000},
    # OpenAI's own kind: Responses passed through, chat completions as above.
    "gpt-5-codex": {"provider": "openai_responses", "input_price": 1_000_000, "output_price": 10_000_000},
    # Google's Gemini API: every other format translated to it.
    "gemini-2.5-flash": {"provider": "gemini", "input_price": 300_000, "output_price": 2_500_000},
}
# Embedding models: charged for their input tokens only.
EMBEDDING_MODELS = {
    "text-embedding-3-small": {"provider": "openai", "input_price": 1_000_000, "output_price": 0, "kind": "embedding"},
}
PRICED = {**MODELS, **EMBEDDING_MODELS}
GRANT_MICRO_CREDITS = 1_000_000
WAIT_SECONDS = 10


def env(name):
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: run these tests with end2end/sdk/run.sh", returncode=2)
    return value


def cost(model, input_tokens, output_tokens):
    """What Tollgate charges, in micro-credits: the exact sum, rounded up
    once (Gemini's prices are fractions of a micro-credit per token)."""
    prices = PRICED[model]
    exact = input_tokens * prices["input_price"] + output_tokens * prices["output_price"]
    return -(-exact // 1_000_000)


def counts_tool_results(model):
    """Whether the mock counts a tool result's words as input on this model's
    provider: it does in OpenAI's `tool` message and Gemini's
    `functionResponse`, not in Anthropic's `tool_result` block."""
    return MODELS[model]["provider"] != "anthropic"


def mock_reply(prompt):
    """What the mock upstream answers to a last user message, and its usage:
    one token per word; the reply opens with seven words."""
    text = f"Hello from the Tollgate mock. You said: {prompt}"
    return text, len(prompt.split()), len(text.split())


class Api:
    """The dashboard API, as one signed-in person."""

    def __init__(self, base, token=None):
        self.base = base
        self.token = token

    def call(self, method, path, body=None, expect=(200, 201)):
        headers = {"content-type": "application/json"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, payload = response.status, json.load(response)
        except urllib.error.HTTPError as err:
            status, payload = err.code, json.load(err)
        assert status in expect, f"{method} {path} → {status} {payload}"
        return payload


@dataclass
class Account:
    api: Api
    user_id: str
    granted: int

    def key(self, **fields):
        """A new API key's secret (fields as in `POST /api/keys`)."""
        return self.api.call("POST", "/api/keys", {"name": f"sdk-{uuid.uuid4().hex[:8]}", **fields})["secret"]

    def credits(self):
        return self.api.call("GET", "/api/users/me/credits?per_page=100")

    def usage(self):
        return self.api.call("GET", "/api/users/me/usage?per_page=200")

    def wait_for(self, requests, charges):
        """Usage rows and ledger charges are written by a background writer:
        wait until exactly `requests` rows and `charges` charges are there."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            usage, credits = self.usage(), self.credits()
            charged = [e for e in credits["entries"] if e["kind"] == "charge"]
            if usage["total"] >= requests and len(charged) >= charges:
                break
            assert time.monotonic() < deadline, f"waited for {requests} usage rows and {charges} charges: {usage} {credits}"
            time.sleep(0.05)
        assert usage["total"] == requests, usage["requests"]
        assert len(charged) == charges, credits["entries"]
        return list(reversed(usage["requests"])), credits

    def assert_charged_rows(self, *expected):
        """Waits for one successful request a row of `expected` (oldest first),
        each charged; checks every row against its fields (as `assert_row`
        takes them) and that the charges are exactly what the rows cost."""
        rows, credits = self.wait_for(requests=len(expected), charges=len(expected))
        for row, fields in zip(rows, expected):
            assert_row(row, **fields)
        self.assert_charged(rows, credits)

    def assert_charged(self, rows, credits):
        """The ledger has one charge per priced row, of exactly its cost, and
        the balance is what was granted less those costs."""
        costs = {row["id"]: row["cost_micro_credits"] for row in rows if row["cost_micro_credits"] > 0}
        charges = {e["reference"]: -e["amount_micro_credits"] for e in credits["entries"] if e["kind"] == "charge"}
        assert charges == costs
        assert credits["balance_micro_credits"] == self.granted - sum(costs.values())


@dataclass
class Gateway:
    url: str
    mock_url: str
    admin: Api

    def account(self, plan="pro", credits=GRANT_MICRO_CREDITS):
        """A new user on `plan` with `credits` micro-credits."""
        email = f"sdk-py-{uuid.uuid4().hex[:12]}@example.com"
        password = "sdk-test-password"
        # Registering opens no session (its answer is the same for a taken
        # email): sign in next, as a person does.
        Api(self.url).call(
            "POST", "/api/auth/register", {"email": email, "password": password, "name": "SDK test"}, expect=(202,)
        )
        registered = Api(self.url).call("POST", "/api/auth/login", {"email": email, "password": password})
        user_id = registered["user"]["id"]
        if plan != registered["user"]["plan"]:
            self.admin.call("PATCH", f"/api/admin/users/{user_id}", {"plan": plan})
        if credits:
            amount = f"{credits // 1_000_000}.{credits % 1_000_000:06d}"
            self.admin.call("POST", "/api/admin/credits/grant", {"user_id": user_id, "amount": amount})
        return Account(Api(self.url, registered["token"]), user_id, credits)


@pytest.fixture(scope="session")
def gateway():
    url, mock_url = env("TOLLGATE_URL"), env("TOLLGATE_MOCK_URL")
    login = Api(url).call(
        "POST",
        "/api/auth/login",
        {"email": env("TOLLGATE_ADMIN_EMAIL"), "password": env("TOLLGATE_ADMIN_PASSWORD")},
    )
    admin = Api(url, login["token"])
    ensure_catalog(admin, mock_url)
    return Gateway(url, mock_url, admin)


def ensure_catalog(admin, mock_url):
    """One provider of each format on the mock upstream, and a model on
    each; the Node tests share them (whoever runs first creates them)."""
    providers = {p["name"]: p for p in admin.call("GET", "/api/admin/providers")["providers"]}
    base_urls = {
        "openai": f"{mock_url}/v1",
        "openai_responses": f"{mock_url}/v1",
        "anthropic": mock_url,
        "gemini": f"{mock_url}/v1beta",
    }
    for kind, base_url in base_urls.items():
        name = f"Mock {kind}"
        if name not in providers:
            providers[name] = admin.call(
                "POST",
                "/api/admin/providers",
                {"name": name, "kind": kind, "base_url": base_url, "api_keys": [f"sk-mock-{kind}"]},
            )["provider"]
    models = {m["public_name"] for m in admin.call("GET", "/api/admin/models")["models"]}
    for public_name, spec in PRICED.items():
        if public_name not in models:
            admin.call(
                "POST",
                "/api/admin/models",
                {
                    "public_name": public_name,
                    "kind": spec.get("kind", "chat"),
                    "provider_id": providers[f"Mock {spec['provider']}"]["id"],
                    "upstream_model": public_name,
                    "input_price": spec["input_price"],
                    "output_price": spec["output_price"],
                },
            )


@pytest.fixture
def account(gateway):
    return gateway.account()


def assert_row(row, *, model, endpoint, streamed, input_tokens, output_tokens, request_id=None):
    """A usage row of a successful request (no cache or reasoning tokens),
    priced at the model's prices."""
    charged = cost(model, input_tokens, output_tokens)
    expected = {
        "model": model,
        "endpoint": endpoint,
        "streamed": streamed,
        "status_code": 200,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "cost_micro_credits": charged,
        "charged_micro_credits": charged,
    }
    if request_id is not None:
        expected["id"] = request_id
    assert {field: row[field] for field in expected} == expected
