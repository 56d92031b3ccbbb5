"""The OpenAPI description against a real Tollgate (started by
`end2end/sdk/run.sh`, after the SDK tests, because the fuzzing changes
settings the SDK tests rely on): it validates as OpenAPI 3.1, and
schemathesis, for a bounded time, finds no 5xx and no answer outside it.
"""

import json
import os
import subprocess
import sys
import urllib.request

from openapi_spec_validator import validate

URL = os.environ["TOLLGATE_URL"]
# Bounded: the whole fuzzing run stops after this many seconds.
FUZZ_SECONDS = int(os.environ.get("TOLLGATE_FUZZ_SECONDS", "90"))


def request(method, path, body=None, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(URL + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=10) as response:
        return json.load(response)


def credentials():
    """The first admin's session, for `/api`, and the API key of a user of
    its own, for `/v1` (as `x-api-key`, which the LLM API reads before
    `Authorization`): the admin's own keys are listed, so the fuzzing
    revokes them."""
    login = request(
        "POST",
        "/api/auth/login",
        {"email": os.environ["TOLLGATE_ADMIN_EMAIL"], "password": os.environ["TOLLGATE_ADMIN_PASSWORD"]},
    )
    token = login["token"]
    created = request("POST", "/api/admin/users", {"name": "OpenAPI fuzzing", "plan": "pro"}, token)
    request("POST", "/api/admin/credits/grant", {"user_id": created["user"]["id"], "amount": "100"}, token)
    # No plan's rate limit, so that requests reach the logic behind it.
    for plan in ("trial", "free", "pro", "pro_lifetime"):
        request("PUT", f"/api/admin/rate-limits/{plan}", {"requests_per_minute": 0, "tokens_per_minute": 0}, token)
    return token, created["secret"]


def test_the_description_is_valid_openapi_3_1_and_needs_no_sign_in():
    spec = request("GET", "/api/openapi.json")
    validate(spec)
    assert spec["openapi"] == "3.1.0"
    assert "/api/openapi.json" in spec["paths"]
    assert "/v1/chat/completions" in spec["paths"] and "/api/v1/chat/completions" in spec["paths"]


def schemathesis(session, key, seconds, *filters):
    """Runs schemathesis for `seconds` on the operations `filters` select;
    returns its exit status and prints its report."""
    command = [
        os.path.join(os.path.dirname(sys.executable), "schemathesis"), "run", f"{URL}/api/openapi.json",
        "--url", URL,
        "--header", f"Authorization: Bearer {session}",
        "--header", f"x-api-key: {key}",
        "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
        "response_schema_conformance",
        "--max-time", str(seconds),
        "--request-timeout", "10",
        "--workers", "2",
        "--no-color",
        *filters,
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    print(run.stdout[-20000:])
    print(run.stderr[-5000:], file=sys.stderr)
    return run.returncode


def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_description():
    session, key = credentials()
    # The LLM API first: fuzzing the admin API suspends and deletes the
    # users it lists, the owner of `key` among them.
    llm = schemathesis(session, key, FUZZ_SECONDS // 3, "--include-path-regex", "^/(api/)?v1/")
    dashboard = schemathesis(
        session, key, FUZZ_SECONDS - FUZZ_SECONDS // 3,
        "--exclude-path-regex", "^/(api/)?v1/",
        # The live feed is an endless event stream: no request to it ends.
        "--exclude-path", "/api/admin/live",
        # Signing out would end the session every other request is made with.
        "--exclude-path", "/api/auth/logout",
    )
    assert (llm, dashboard) == (0, 0), "schemathesis found failures (above)"
