// Set-up for the Node tests, as conftest.py does it for the Python ones: the
// Tollgate and mock upstream that end2end/sdk/run.sh started, the shared
// catalog (a provider of each format on the mock, a model on each), and
// accounts of their own for each test, so that its usage rows, ledger and
// balance hold nothing but its own requests.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

// Micro-credits per million tokens, and the format of each model's provider.
export const MODELS = {
  'gpt-4.1': { provider: 'openai', inputPrice: 2_000_000, outputPrice: 8_000_000 },
  'claude-sonnet-4-6': { provider: 'anthropic', inputPrice: 3_000_000, outputPrice: 15_000_000 },
  // OpenAI's own kind: Responses passed through, chat completions as above.
  'gpt-5-codex': { provider: 'openai_responses', inputPrice: 1_000_000, outputPrice: 10_000_000 },
  // Google's Gemini API: every other format translated to it.
  'gemini-2.5-flash': { provider: 'gemini', inputPrice: 300_000, outputPrice: 2_500_000 },
};
// Embedding models: charged for their input tokens only.
export const EMBEDDING_MODELS = {
  'text-embedding-3-small': { provider: 'openai', inputPrice: 1_000_000, outputPrice: 0, kind: 'embedding' },
};
const PRICED = { ...MODELS, ...EMBEDDING_MODELS };
export const GRANT = 1_000_000;

/** Whether the mock counts a tool result's words as input on this model's
 * provider: it does in OpenAI's `tool` message and Gemini's
 * `functionResponse`, not in Anthropic's `tool_result` block. */
export function countsToolResults(model) {
  return MODELS[model].provider !== 'anthropic';
}
const WAIT_MS = 10_000;

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests with end2end/sdk/run.sh`);
  return value;
}

export const url = env('TOLLGATE_URL');
const mockUrl = env('TOLLGATE_MOCK_URL');

/** What Tollgate charges, in micro-credits: the exact sum, rounded up once
 * (Gemini's prices are fractions of a micro-credit per token). */
export function cost(model, inputTokens, outputTokens) {
  const { inputPrice, outputPrice } = PRICED[model];
  return Math.ceil((inputTokens * inputPrice + outputTokens * outputPrice) / 1_000_000);
}

/** The mock upstream's answer to a last user message, and its usage: one
 * token per word; the reply opens with seven words. */
export function mockReply(prompt) {
  const text = `Hello from the Tollgate mock. You said: ${prompt}`;
  return { text, inputTokens: prompt.split(' ').length, outputTokens: text.split(' ').length };
}

/** The dashboard API, as one signed-in person. */
class Api {
  constructor(token) {
    this.token = token;
  }

  async call(method, path, body, expect = [200, 201]) {
    const headers = { 'content-type': 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const response = await fetch(url + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const payload = await response.json();
    assert.ok(expect.includes(response.status), `${method} ${path} → ${response.status} ${JSON.stringify(payload)}`);
    return payload;
  }
}

export class Account {
  constructor(api, userId, granted) {
    Object.assign(this, { api, userId, granted });
  }

  /** A new API key's secret (fields as in `POST /api/keys`). */
  async key(fields = {}) {
    const created = await this.api.call('POST', '/api/keys', { name: `sdk-${randomUUID().slice(0, 8)}`, ...fields });
    return created.secret;
  }

  /** Usage rows and ledger charges come from a background writer: waits
   * until exactly `requests` rows (oldest first) and `charges` are there. */
  async waitFor({ requests, charges }) {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const usage = await this.api.call('GET', '/api/users/me/usage?per_page=200');
      const credits = await this.api.call('GET', '/api/users/me/credits?per_page=100');
      const charged = credits.entries.filter((e) => e.kind === 'charge');
      if (usage.total >= requests && charged.length >= charges) {
        assert.equal(usage.total, requests, JSON.stringify(usage.requests));
        assert.equal(charged.length, charges, JSON.stringify(credits.entries));
        return { rows: usage.requests.reverse(), credits };
      }
      assert.ok(Date.now() < deadline, `waited for ${requests} usage rows and ${charges} charges`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Waits for one successful request a row of `expected` (oldest first),
   * each charged; checks every row against its fields (as `assertRow`
   * takes them) and that the charges are exactly what the rows cost. */
  async assertChargedRows(...expected) {
    const { rows, credits } = await this.waitFor({ requests: expected.length, charges: expected.length });
    expected.forEach((fields, index) => assertRow(rows[index], fields));
    this.assertCharged(rows, credits);
  }

  /** One ledger charge per priced row, of exactly its cost; the balance is
   * what was granted less those costs. */
  assertCharged(rows, credits) {
    const costs = Object.fromEntries(rows.filter((r) => r.cost_micro_credits > 0).map((r) => [r.id, r.cost_micro_credits]));
    const charges = Object.fromEntries(
      credits.entries.filter((e) => e.kind === 'charge').map((e) => [e.reference, -e.amount_micro_credits]),
    );
    assert.deepEqual(charges, costs);
    const spent = Object.values(costs).reduce((a, b) => a + b, 0);
    assert.equal(credits.balance_micro_credits, this.granted - spent);
  }
}

/** A usage row of a successful request (no cache or reasoning tokens),
 * priced at the model's prices. */
export function assertRow(row, { model, endpoint, streamed, inputTokens, outputTokens, requestId }) {
  const charged = cost(model, inputTokens, outputTokens);
  const expected = {
    model,
    endpoint,
    streamed,
    status_code: 200,
    input_tokens: inputTokens,
    output_tokens: outputTokens,
    cache_read_tokens: 0,
    cache_write_tokens: 0,
    reasoning_tokens: 0,
    cost_micro_credits: charged,
    charged_micro_credits: charged,
  };
  if (requestId !== undefined) expected.id = requestId;
  assert.deepEqual(Object.fromEntries(Object.keys(expected).map((k) => [k, row[k]])), expected);
}

let adminSetUp;

/** The admin's API, once the catalog is there (created by whichever suite
 * runs first, Python or Node). */
export function adminApi() {
  adminSetUp ??= setUp();
  return adminSetUp;
}

async function setUp() {
  const login = await new Api().call('POST', '/api/auth/login', {
    email: env('TOLLGATE_ADMIN_EMAIL'),
    password: env('TOLLGATE_ADMIN_PASSWORD'),
  });
  const api = new Api(login.token);
  const providers = Object.fromEntries(
    (await api.call('GET', '/api/admin/providers')).providers.map((p) => [p.name, p]),
  );
  const baseUrls = [
    ['openai', `${mockUrl}/v1`],
    ['openai_responses', `${mockUrl}/v1`],
    ['anthropic', mockUrl],
    ['gemini', `${mockUrl}/v1beta`],
  ];
  for (const [kind, baseUrl] of baseUrls) {
    const name = `Mock ${kind}`;
    if (!providers[name]) {
      const body = { name, kind, base_url: baseUrl, api_keys: [`sk-mock-${kind}`] };
      providers[name] = (await api.call('POST', '/api/admin/providers', body)).provider;
    }
  }
  const models = new Set((await api.call('GET', '/api/admin/models')).models.map((m) => m.public_name));
  for (const [publicName, spec] of Object.entries(PRICED)) {
    if (models.has(publicName)) continue;
    await api.call('POST', '/api/admin/models', {
      public_name: publicName,
      kind: spec.kind ?? 'chat',
      provider_id: providers[`Mock ${spec.provider}`].id,
      upstream_model: publicName,
      input_price: spec.inputPrice,
      output_price: spec.outputPrice,
    });
  }
  return api;
}

/** A new user on `plan` with `credits` micro-credits. */
export async function newAccount({ plan = 'pro', credits = GRANT } = {}) {
  const admin = await adminApi();
  const email = `sdk-node-${randomUUID().slice(0, 12)}@example.com`;
  const password = 'sdk-test-password';
  // Registering opens no session (its answer is the same for a taken
  // email): sign in next, as a person does.
  await new Api().call('POST', '/api/auth/register', { email, password, name: 'SDK test' }, [202]);
  const registered = await new Api().call('POST', '/api/auth/login', { email, password });
  const userId = registered.user.id;
  if (plan !== registered.user.plan) await admin.call('PATCH', `/api/admin/users/${userId}`, { plan });
  if (credits) {
    const amount = `${Math.floor(credits / 1e6)}.${String(credits % 1e6).padStart(6, '0')}`;
    await admin.call('POST', '/api/admin/credits/grant', { user_id: userId, amount });
  }
  return new Account(new Api(registered.token), userId, credits);
}
