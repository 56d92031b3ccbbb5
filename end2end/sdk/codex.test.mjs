// OpenAI's Codex CLI (npm's @openai/codex: its native binary, no login)
// against a real Tollgate: `codex exec --json` with a config.toml naming
// Tollgate as its Responses provider (as the README gives it), a Tollgate
// key in the environment and a temporary CODEX_HOME.
//
// Codex offers its tools; the mock upstream calls the first function tool
// (exec_command) with `{"query": …}`, Codex refuses those arguments and
// sends the refusal back as the call's output, and the mock's final answer
// echoes it ("The tool said: …"): a whole agent turn, two requests,
// through Tollgate, on a provider that speaks Responses and on chat-only
// ones (OpenAI-compatible and Anthropic, translated).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MODELS, assertRow, newAccount, url } from './gateway.mjs';

const codex = fileURLToPath(new URL('../node_modules/.bin/codex', import.meta.url));

/** The config.toml of the README: Tollgate as a Responses provider. */
function config(model) {
  return [
    `model = "${model}"`,
    'model_provider = "tollgate"',
    '',
    '[model_providers.tollgate]',
    'name = "Tollgate"',
    `base_url = "${url}/v1"`,
    'env_key = "TOLLGATE_KEY"',
    'wire_api = "responses"',
    '',
  ].join('\n');
}

/** Codex's JSON events and exit code. */
async function runCodex(model, key) {
  const home = await mkdtemp(join(tmpdir(), 'tollgate-codex-'));
  try {
    const project = join(home, 'project');
    const codexHome = join(home, 'codex');
    await mkdir(project);
    await mkdir(codexHome);
    await writeFile(join(codexHome, 'config.toml'), config(model));
    const child = spawn(codex, ['exec', '--json', '--skip-git-repo-check', 'say hi'], {
      cwd: project,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
      env: { PATH: process.env.PATH, HOME: home, CODEX_HOME: codexHome, TOLLGATE_KEY: key },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const [code, signal] = await once(child, 'close');
    const events = stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line));
    assert.ok(events.length, `codex printed no events (exit ${code}, signal ${signal}): ${stderr}`);
    return { events, code, stderr };
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

describe('Codex CLI', () => {
  // A model whose provider speaks Responses (passed through), and one of
  // each chat-only kind (translated through chat completions).
  for (const model of ['gpt-5-codex', 'gpt-4.1', 'claude-sonnet-4-6']) {
    test(`codex exec completes a turn with a tool call on ${model} (${MODELS[model].provider} provider), metered and charged`, async () => {
      const account = await newAccount();
      const key = await account.key();

      const { events, code, stderr } = await runCodex(model, key);

      assert.equal(code, 0, stderr);
      const kinds = events.map((event) => event.type);
      assert.ok(!kinds.includes('turn.failed'), JSON.stringify(events));
      const messages = events.filter((event) => event.item?.type === 'agent_message');
      assert.equal(messages.length, 1, JSON.stringify(events));
      // The mock's answer to the tool's output, which Codex sent back.
      assert.match(messages[0].item.text, /^The tool said: /);
      const completed = events.find((event) => event.type === 'turn.completed');
      assert.ok(completed, JSON.stringify(events));
      // What Codex counted is what Tollgate metered and charged.
      const { rows, credits } = await account.waitFor({ requests: 2, charges: 2 });
      const sum = (field) => rows.reduce((total, row) => total + row[field], 0);
      const input = sum('input_tokens') + sum('cache_read_tokens') + sum('cache_write_tokens');
      const { usage } = completed;
      assert.deepEqual(
        [input, sum('cache_read_tokens'), sum('output_tokens')],
        [usage.input_tokens, usage.cached_input_tokens, usage.output_tokens],
      );
      for (const row of rows) {
        const tokens = { inputTokens: row.input_tokens, outputTokens: row.output_tokens };
        assertRow(row, { model, endpoint: 'responses', streamed: true, ...tokens });
      }
      account.assertCharged(rows, credits);
    });
  }
});
