// The official OpenAI Node SDK's `responses.create` against a real Tollgate:
// a model of every provider kind (the Responses API passed through to an
// `openai_responses` provider, translated for the others),
// plain and streamed. Its refusals: openai.test.mjs, for both endpoints.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import { MODELS, mockReply, newAccount, url } from './gateway.mjs';

const client = (apiKey) => new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0, timeout: 20_000 });

/** The text of a response's message items. */
const textOf = (response) =>
  response.output
    .filter((item) => item.type === 'message')
    .flatMap((item) => item.content)
    .filter((part) => part.type === 'output_text')
    .map((part) => part.text)
    .join('');

/** The usage a response reports, the mock's count, and the one usage row
 * and charge the gateway recorded for it (by its `x-request-id`). */
async function assertUsageCharged(account, raw, response, { model, streamed, inputTokens, outputTokens }) {
  const { input_tokens, output_tokens, total_tokens } = response.usage;
  assert.deepEqual([input_tokens, output_tokens, total_tokens], [inputTokens, outputTokens, inputTokens + outputTokens]);
  const requestId = raw.headers.get('x-request-id');
  await account.assertChargedRows({
    requestId,
    model,
    endpoint: 'responses',
    streamed,
    inputTokens: input_tokens,
    outputTokens: output_tokens,
  });
}

for (const model of Object.keys(MODELS)) describe(`the OpenAI Node SDK's Responses API (${model}, ${MODELS[model].provider} provider)`, () => {
  test("a response has the mock's text and usage and is charged exactly", async () => {
    const account = await newAccount();
    const prompt = 'Say hi to the Responses API from Node please';
    const { data: response, response: raw } = await client(await account.key())
      .responses.create({ model, input: prompt })
      .withResponse();

    const { text, inputTokens, outputTokens } = mockReply(prompt);
    assert.equal(raw.status, 200);
    assert.equal(response.status, 'completed');
    assert.deepEqual(response.output.map((item) => item.type), ['message']);
    assert.equal(response.output_text, text);
    await assertUsageCharged(account, raw, response, { model, streamed: false, inputTokens, outputTokens });
  });

  test('a streamed response numbers its events and its usage is charged exactly', async () => {
    const account = await newAccount();
    const prompt = 'Stream a short greeting to the Responses API from Node';
    const { data: stream, response: raw } = await client(await account.key())
      .responses.create({ model, input: prompt, stream: true })
      .withResponse();
    const events = [];
    for await (const event of stream) events.push(event);

    const { text, inputTokens, outputTokens } = mockReply(prompt);
    const kinds = events.map((event) => event.type);
    assert.deepEqual(kinds.slice(0, 2), ['response.created', 'response.in_progress']);
    assert.equal(kinds.at(-1), 'response.completed');
    assert.equal(kinds.filter((kind) => kind === 'response.completed').length, 1);
    assert.deepEqual(
      events.map((event) => event.sequence_number),
      events.map((_, index) => index),
    );
    const deltas = events.filter((event) => event.type === 'response.output_text.delta').map((event) => event.delta);
    assert.ok(deltas.length > 1, `one delta: ${JSON.stringify(deltas)}`);
    assert.equal(deltas.join(''), text);
    const completed = events.at(-1).response;
    assert.equal(completed.status, 'completed');
    assert.equal(textOf(completed), text);
    await assertUsageCharged(account, raw, completed, { model, streamed: true, inputTokens, outputTokens });
  });
});
