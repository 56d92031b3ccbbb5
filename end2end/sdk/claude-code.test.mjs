// Claude Code (npm's @anthropic-ai/claude-code: its native binary, no login)
// against a real Tollgate: `claude -p` with a Tollgate key, a temporary HOME
// and no other environment than PATH and the variables of `runClaude`.
//
// Claude Code offers its tools; the mock upstream calls the first one with
// `{"query": …}`, Claude Code refuses that input and sends the refusal back
// as the tool's result, and the mock's final answer echoes it ("The tool
// said: …"): a whole agent turn, two requests, through Tollgate.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MODELS, assertRow, newAccount, url } from './gateway.mjs';

const claude = fileURLToPath(new URL('../node_modules/.bin/claude', import.meta.url));

/** Claude Code's JSON result and exit code. */
async function runClaude(args, variables) {
  const home = await mkdtemp(join(tmpdir(), 'tollgate-claude-'));
  try {
    const project = join(home, 'project');
    await mkdir(project);
    const child = spawn(claude, ['-p', 'say hi', '--output-format', 'json', ...args], {
      cwd: project,
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 60_000,
      env: {
        PATH: process.env.PATH,
        HOME: home,
        ANTHROPIC_BASE_URL: url,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        DISABLE_TELEMETRY: '1',
        DISABLE_AUTOUPDATER: '1',
        ...variables,
      },
    });
    let stdout = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    const [code, signal] = await once(child, 'close');
    assert.ok(stdout, `claude printed nothing (exit ${code}, signal ${signal})`);
    return { result: JSON.parse(stdout), code };
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

describe('Claude Code', () => {
  // The key as an API key (x-api-key) or as a bearer token; the model as
  // an option or from the environment, as the README gives them.
  const runs = [
    { model: 'claude-sonnet-4-6', credential: 'ANTHROPIC_API_KEY', modelFrom: '--model' },
    { model: 'claude-sonnet-4-6', credential: 'ANTHROPIC_AUTH_TOKEN', modelFrom: 'ANTHROPIC_MODEL' },
    { model: 'gpt-4.1', credential: 'ANTHROPIC_API_KEY', modelFrom: '--model' },
  ];
  for (const { model, credential, modelFrom } of runs) {
    const openai = MODELS[model].provider === 'openai';
    const provider = openai ? 'an OpenAI-compatible' : 'an Anthropic';
    const name = `claude -p with ${credential} and ${modelFrom} completes a turn on ${model} (${provider} provider), metered and charged`;
    test(name, async () => {
      const account = await newAccount();
      const key = await account.key();
      const args = modelFrom === '--model' ? ['--model', model] : [];
      const variables = { [credential]: key, ...(modelFrom === '--model' ? {} : { [modelFrom]: model }) };

      const { result, code } = await runClaude(args, variables);

      assert.equal(result.is_error, false, result.result);
      assert.equal(code, 0);
      assert.equal(result.terminal_reason, 'completed');
      assert.equal(result.num_turns, 2);
      assert.match(result.result, /^The tool said: <tool_use_error>InputValidationError: /);
      assert.deepEqual(Object.keys(result.modelUsage), [model]);
      // What Claude Code counted is what Tollgate metered and charged.
      const { rows, credits } = await account.waitFor({ requests: 2, charges: 2 });
      const sum = (field) => rows.reduce((total, row) => total + row[field], 0);
      assert.deepEqual(
        [sum('input_tokens'), sum('output_tokens')],
        [result.usage.input_tokens, result.usage.output_tokens],
      );
      for (const row of rows) {
        const tokens = { inputTokens: row.input_tokens, outputTokens: row.output_tokens };
        assertRow(row, { model, endpoint: 'messages', streamed: true, ...tokens });
      }
      account.assertCharged(rows, credits);
    });
  }
});
