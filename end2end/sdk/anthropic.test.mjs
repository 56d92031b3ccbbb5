// The official Anthropic Node SDK against a real Tollgate: a model of an
// Anthropic provider (same format) and of OpenAI-compatible and Gemini
// providers (translated), plain and streamed, tools, the model list, and each
// error as the SDK's own exception.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { MODELS, adminApi, countsToolResults, mockReply, newAccount, url } from './gateway.mjs';

const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'The weather in a city',
  input_schema: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
};

const client = (apiKey) => new Anthropic({ baseURL: url, apiKey, maxRetries: 0, timeout: 20_000 });
const blocks = (message) => message.content.map((b) => [b.type, b.text]);

/** A finished message of the mock: its text alone, and its usage without cache tokens. */
function assertMockMessage(message, { text, inputTokens, outputTokens }) {
  assert.deepEqual(blocks(message), [['text', text]]);
  assert.equal(message.stop_reason, 'end_turn');
  const { input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens } = message.usage;
  assert.deepEqual(
    [input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens],
    [inputTokens, outputTokens, 0, 0],
  );
}

describe('the Anthropic Node SDK', () => {
  for (const model of Object.keys(MODELS)) {
    test(`a message of ${model} has the mock's text and usage and is charged exactly`, async () => {
      const account = await newAccount();
      const prompt = 'Say hi to the Anthropic Node SDK please';
      const { data: message, response } = await client(await account.key())
        .messages.create({ model, max_tokens: 100, messages: [{ role: 'user', content: prompt }] })
        .withResponse();

      const { text, inputTokens, outputTokens } = mockReply(prompt);
      assertMockMessage(message, { text, inputTokens, outputTokens });
      const requestId = response.headers.get('x-request-id');
      await account.assertChargedRows({ requestId, model, endpoint: 'messages', streamed: false, inputTokens, outputTokens });
    });

    test(`a streamed message of ${model} has the mock's text and usage and is charged exactly`, async () => {
      const account = await newAccount();
      const prompt = 'Stream a short greeting to the Anthropic Node SDK';
      const stream = client(await account.key()).messages.stream({
        model,
        max_tokens: 100,
        messages: [{ role: 'user', content: prompt }],
      });
      let streamedText = '';
      stream.on('text', (delta) => {
        streamedText += delta;
      });
      const { response } = await stream.withResponse();
      const message = await stream.finalMessage();

      const { text, inputTokens, outputTokens } = mockReply(prompt);
      assert.equal(streamedText, text);
      assertMockMessage(message, { text, inputTokens, outputTokens });
      const requestId = response.headers.get('x-request-id');
      await account.assertChargedRows({ requestId, model, endpoint: 'messages', streamed: true, inputTokens, outputTokens });
    });

    for (const streamed of [false, true]) {
      test(`a tool use of ${model} and its result make a round trip (${streamed ? 'streamed' : 'plain'})`, async () => {
        const account = await newAccount();
        const api = client(await account.key());
        const question = { role: 'user', content: 'What is the weather in Paris' };
        const request = { model, max_tokens: 100, messages: [question], tools: [WEATHER_TOOL] };
        const first = streamed ? await api.messages.stream(request).finalMessage() : await api.messages.create(request);

        // The mock calls the first tool offered with the last user text.
        assert.equal(first.stop_reason, 'tool_use');
        assert.equal(first.content.length, 1);
        const [use] = first.content;
        assert.deepEqual([use.type, use.name, use.input], ['tool_use', 'get_weather', { query: 'What is the weather in Paris' }]);
        assert.deepEqual([first.usage.input_tokens, first.usage.output_tokens], [6, 7]);

        const result = { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'Sunny and warm' }] };
        const messages = [question, { role: 'assistant', content: first.content }, result];
        const second = await api.messages.create({ ...request, messages });

        assert.deepEqual(blocks(second), [['text', 'The tool said: Sunny and warm']]);
        assert.equal(second.stop_reason, 'end_turn');
        const secondInput = countsToolResults(model) ? 9 : 6;
        assert.deepEqual([second.usage.input_tokens, second.usage.output_tokens], [secondInput, 6]);
        const common = { model, endpoint: 'messages' };
        await account.assertChargedRows(
          { ...common, streamed, inputTokens: 6, outputTokens: 7 },
          { ...common, streamed: false, inputTokens: secondInput, outputTokens: 6 },
        );
      });
    }
  }

  test('the model list names the models of both formats the key may call', async () => {
    const account = await newAccount();
    const ids = async (fields) => {
      const list = [];
      for await (const model of client(await account.key(fields)).models.list()) list.push(model.id);
      return list;
    };

    assert.deepEqual((await ids()).sort(), ['tollgate-mock', ...Object.keys(MODELS)].sort());
    assert.deepEqual(await ids({ models: ['gpt-4.1'] }), ['gpt-4.1']);
  });

  // What the request runs into: the SDK's exception, the status, Anthropic's error type.
  const ERRORS = {
    '401 bad key': [Anthropic.AuthenticationError, 401, 'authentication_error'],
    '402 key quota': [Anthropic.PaymentRequiredError, 402, 'billing_error'],
    '402 no credits': [Anthropic.PaymentRequiredError, 402, 'billing_error'],
    '403 model not allowed': [Anthropic.PermissionDeniedError, 403, 'permission_error'],
    '404 unknown model': [Anthropic.NotFoundError, 404, 'not_found_error'],
    '429 rate limit': [Anthropic.RateLimitError, 429, 'rate_limit_error'],
  };

  for (const [name, [exception, status, type]] of Object.entries(ERRORS)) {
    test(`${name} surfaces as the SDK's typed exception and costs nothing`, async () => {
      const account = await newAccount({
        credits: name === '402 no credits' ? 0 : 1_000_000,
        plan: name === '429 rate limit' ? 'trial' : 'pro',
      });
      let model = 'claude-sonnet-4-6';
      let key = await account.key();
      const ask = (content) => client(key).messages.create({ model, max_tokens: 10, messages: [{ role: 'user', content }] });
      if (name === '401 bad key') key = `tg-${'x'.repeat(48)}`;
      if (name === '402 key quota') key = await account.key({ quota_micro_credits: 1 });
      if (name === '403 model not allowed') key = await account.key({ models: ['gpt-4.1'] });
      if (name === '404 unknown model') model = 'no-such-model';
      if (name === '429 rate limit') {
        // Users register on `trial`; every other test's account is `pro`.
        const admin = await adminApi();
        await admin.call('PUT', '/api/admin/rate-limits/trial', { requests_per_minute: 1, tokens_per_minute: 0 });
        await ask('one');
      }

      const error = await ask('Hi').then(
        () => assert.fail('the request succeeded'),
        (err) => err,
      );
      assert.equal(error.constructor, exception);
      assert.deepEqual([error.status, error.error.type, error.error.error.type], [status, 'error', type]);
      if (status === 429) {
        assert.equal(error.headers.get('retry-after'), '60');
        const ms = Number(error.headers.get('retry-after-ms'));
        assert.ok(ms > 59_000 && ms <= 60_000, `retry-after-ms ${ms}`);
      }
      if (status === 401) return; // no key, no account to record it against
      if (status === 404 || status === 429) {
        // Refused before admission: counted by the gateway, never a usage
        // row (a flood of them must not fill its writer), and charged nothing.
        const { rows, credits } = await account.waitFor({ requests: status === 429 ? 1 : 0, charges: status === 429 ? 1 : 0 });
        assert.ok(!rows.some((row) => row.id === error.headers.get('x-request-id')));
        account.assertCharged(rows, credits);
        return;
      }
      // Recorded with its status, charged nothing.
      const { rows, credits } = await account.waitFor({ requests: 1, charges: 0 });
      const last = rows.at(-1);
      assert.deepEqual([last.id, last.status_code, last.charged_micro_credits], [error.headers.get('x-request-id'), status, 0]);
      account.assertCharged(rows, credits);
    });
  }
});
