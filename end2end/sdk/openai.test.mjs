// The official OpenAI Node SDK against a real Tollgate: a model of an
// OpenAI-compatible provider (same format) and of Anthropic and Gemini
// providers (translated), plain and streamed, tools, the model list, and each
// error as the SDK's own exception.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import { EMBEDDING_MODELS, MODELS, adminApi, countsToolResults, mockReply, newAccount, url } from './gateway.mjs';

const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
  },
};

const client = (apiKey) => new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0, timeout: 20_000 });

describe('the OpenAI Node SDK', () => {
  for (const model of Object.keys(MODELS)) {
    test(`a completion of ${model} has the mock's text and usage and is charged exactly`, async () => {
      const account = await newAccount();
      const prompt = 'Say hi to the OpenAI Node SDK please';
      const { data: completion, response } = await client(await account.key())
        .chat.completions.create({ model, messages: [{ role: 'user', content: prompt }] })
        .withResponse();

      const { text, inputTokens, outputTokens } = mockReply(prompt);
      assert.equal(completion.choices[0].message.content, text);
      assert.equal(completion.choices[0].finish_reason, 'stop');
      const { prompt_tokens, completion_tokens, total_tokens } = completion.usage;
      assert.deepEqual([prompt_tokens, completion_tokens, total_tokens], [inputTokens, outputTokens, inputTokens + outputTokens]);
      const requestId = response.headers.get('x-request-id');
      await account.assertChargedRows({ requestId, model, endpoint: 'chat_completions', streamed: false, inputTokens, outputTokens });
    });

    test(`a streamed completion of ${model} has the mock's text and usage and is charged exactly`, async () => {
      const account = await newAccount();
      const prompt = 'Stream a short greeting to the OpenAI Node SDK';
      const { data: stream, response } = await client(await account.key())
        .chat.completions.create({
          model,
          messages: [{ role: 'user', content: prompt }],
          stream: true,
          stream_options: { include_usage: true },
        })
        .withResponse();
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);

      const { text, inputTokens, outputTokens } = mockReply(prompt);
      assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), text);
      assert.deepEqual(chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean), ['stop']);
      const usage = chunks.at(-1).usage;
      assert.deepEqual([usage.prompt_tokens, usage.completion_tokens], [inputTokens, outputTokens]);
      const requestId = response.headers.get('x-request-id');
      await account.assertChargedRows({ requestId, model, endpoint: 'chat_completions', streamed: true, inputTokens, outputTokens });
    });

    for (const streamed of [false, true]) {
      test(`a tool call of ${model} and its result make a round trip (${streamed ? 'streamed' : 'plain'})`, async () => {
        const account = await newAccount();
        const api = client(await account.key());
        const question = { role: 'user', content: 'What is the weather in Paris' };
        const request = { model, messages: [question], tools: [WEATHER_TOOL] };
        const first = streamed
          ? await api.chat.completions.stream({ ...request, stream_options: { include_usage: true } }).finalChatCompletion()
          : await api.chat.completions.create(request);

        // The mock calls the first tool offered with the last user text.
        assert.equal(first.choices[0].finish_reason, 'tool_calls');
        const [call] = first.choices[0].message.tool_calls;
        assert.equal(first.choices[0].message.tool_calls.length, 1);
        assert.equal(call.function.name, 'get_weather');
        assert.deepEqual(JSON.parse(call.function.arguments), { query: 'What is the weather in Paris' });
        assert.deepEqual([first.usage.prompt_tokens, first.usage.completion_tokens], [6, 7]);

        const calling = {
          role: 'assistant',
          tool_calls: [{ id: call.id, type: 'function', function: { name: 'get_weather', arguments: call.function.arguments } }],
        };
        const result = { role: 'tool', tool_call_id: call.id, content: 'Sunny and warm' };
        const second = await api.chat.completions.create({ ...request, messages: [question, calling, result] });

        assert.equal(second.choices[0].message.content, 'The tool said: Sunny and warm');
        assert.equal(second.choices[0].finish_reason, 'stop');
        const secondInput = countsToolResults(model) ? 9 : 6;
        assert.deepEqual([second.usage.prompt_tokens, second.usage.completion_tokens], [secondInput, 6]);
        const common = { model, endpoint: 'chat_completions' };
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

    assert.deepEqual((await ids()).sort(), ['tollgate-mock', ...Object.keys(MODELS), ...Object.keys(EMBEDDING_MODELS)].sort());
    assert.deepEqual(await ids({ models: ['claude-sonnet-4-6'] }), ['claude-sonnet-4-6']);
  });

  test('embeddings are unit vectors charged for their input only', async () => {
    const account = await newAccount();
    const api = client(await account.key());
    const model = 'text-embedding-3-small';
    const texts = ['Embed these five words please', 'and these three'];
    // The SDK asks for base64 and decodes it, as it does against OpenAI.
    const { data: result, response } = await api.embeddings.create({ model, input: texts, dimensions: 32 }).withResponse();

    const vectors = result.data.map((item) => item.embedding);
    assert.deepEqual(result.data.map((item) => item.index), [0, 1]);
    assert.deepEqual(vectors.map((vector) => vector.length), [32, 32]);
    assert.ok(Math.abs(vectors[0].reduce((sum, x) => sum + x * x, 0) - 1) < 1e-4);
    const again = await api.embeddings.create({ model, input: texts[0], dimensions: 32 });
    assert.deepEqual(again.data[0].embedding, vectors[0]);
    const tokens = texts.reduce((sum, text) => sum + text.split(' ').length, 0);
    assert.deepEqual([result.usage.prompt_tokens, result.usage.total_tokens], [tokens, tokens]);
    const row = { model, endpoint: 'embeddings', streamed: false, outputTokens: 0 };
    await account.assertChargedRows(
      { ...row, requestId: response.headers.get('x-request-id'), inputTokens: tokens },
      { ...row, inputTokens: texts[0].split(' ').length },
    );

    for (const [input, param, which] of [['', 'input', model], ['a chat model', 'model', 'claude-sonnet-4-6']]) {
      const error = await api.embeddings.create({ model: which, input }).then(
        () => assert.fail('the request succeeded'),
        (err) => err,
      );
      assert.equal(error.constructor, OpenAI.BadRequestError);
      assert.equal(error.param, param);
    }
  });

  // What the request runs into: the SDK's exception, the status, OpenAI's error code.
  const ERRORS = {
    '401 bad key': [OpenAI.AuthenticationError, 401, 'invalid_api_key'],
    '402 key quota': [OpenAI.APIError, 402, 'insufficient_quota'],
    '402 no credits': [OpenAI.APIError, 402, 'insufficient_quota'],
    '403 model not allowed': [OpenAI.PermissionDeniedError, 403, 'permission_denied'],
    '404 unknown model': [OpenAI.NotFoundError, 404, 'model_not_found'],
    '429 rate limit': [OpenAI.RateLimitError, 429, 'rate_limit_exceeded'],
  };

  for (const [endpoint, [name, [exception, status, code]]] of ['chat_completions', 'responses', 'embeddings'].flatMap((endpoint) =>
    Object.entries(ERRORS).map((error) => [endpoint, error]),
  )) {
    test(`${name} on ${endpoint} surfaces as the SDK's typed exception and costs nothing`, async () => {
      const account = await newAccount({
        credits: name === '402 no credits' ? 0 : 1_000_000,
        plan: name === '429 rate limit' ? 'trial' : 'pro',
      });
      let model = endpoint === 'embeddings' ? 'text-embedding-3-small' : 'gpt-4.1';
      let key = await account.key();
      const ask = (content) => {
        if (endpoint === 'responses') return client(key).responses.create({ model, input: content });
        if (endpoint === 'embeddings') return client(key).embeddings.create({ model, input: content });
        return client(key).chat.completions.create({ model, messages: [{ role: 'user', content }] });
      };
      if (name === '401 bad key') key = `tg-${'x'.repeat(48)}`;
      if (name === '402 key quota') key = await account.key({ quota_micro_credits: 1 });
      if (name === '403 model not allowed') key = await account.key({ models: ['claude-sonnet-4-6'] });
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
      assert.deepEqual([error.status, error.code], [status, code]);
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
      // Recorded with its status and endpoint, charged nothing.
      const { rows, credits } = await account.waitFor({ requests: 1, charges: 0 });
      const last = rows.at(-1);
      assert.deepEqual(
        [last.id, last.endpoint, last.status_code, last.charged_micro_credits],
        [error.headers.get('x-request-id'), endpoint, status, 0],
      );
      account.assertCharged(rows, credits);
    });
  }
});
