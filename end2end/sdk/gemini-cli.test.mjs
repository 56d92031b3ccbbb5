// Google's Gemini CLI (npm's @google/gemini-cli, no login) against a real
// Tollgate: `gemini -p … --output-format json` with a Tollgate key as its
// Gemini API key, Tollgate as GOOGLE_GEMINI_BASE_URL, a temporary HOME whose
// settings choose API-key auth, and no other environment than PATH and the
// variables of `runGemini`.
//
// Gemini CLI offers its tools; the mock upstream calls the first declared
// function with `{"query": …}`, the CLI refuses those arguments and sends
// the refusal back as the function's response, and the mock's final answer
// echoes it ("The tool said: …"): a whole agent turn, two streamed
// `generateContent` requests, through Tollgate, on a Gemini provider (same
// format) and on an OpenAI-compatible one (translated).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MODELS, assertRow, newAccount, url } from './gateway.mjs';

const gemini = fileURLToPath(new URL('../node_modules/.bin/gemini', import.meta.url));

/** Without it the CLI stops with "Invalid auth method selected". */
const SETTINGS = { security: { auth: { selectedType: 'gemini-api-key' } } };

/** Gemini CLI's JSON result and exit code. */
async function runGemini(model, key) {
  const home = await mkdtemp(join(tmpdir(), 'tollgate-gemini-'));
  try {
    const project = join(home, 'project');
    await mkdir(project);
    await mkdir(join(home, '.gemini'));
    await writeFile(join(home, '.gemini', 'settings.json'), JSON.stringify(SETTINGS));
    const child = spawn(gemini, ['-m', model, '-p', 'say hi', '--output-format', 'json'], {
      cwd: project,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
      env: {
        PATH: process.env.PATH,
        HOME: home,
        // Else it refuses to work in a folder it has not been told to trust.
        GEMINI_CLI_TRUST_WORKSPACE: 'true',
        GOOGLE_GEMINI_BASE_URL: url,
        GEMINI_API_KEY: key,
      },
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
    assert.ok(stdout, `gemini printed nothing (exit ${code}, signal ${signal}): ${stderr}`);
    return { result: JSON.parse(stdout), code, stderr };
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

describe('Gemini CLI', () => {
  for (const model of ['gemini-2.5-flash', 'gpt-4.1']) {
    test(`gemini -p completes a turn with a tool call on ${model} (${MODELS[model].provider} provider), metered and charged`, async () => {
      const account = await newAccount();
      const key = await account.key();

      const { result, code, stderr } = await runGemini(model, key);

      assert.equal(code, 0, stderr);
      assert.equal(result.error, undefined, JSON.stringify(result.error));
      // The mock's answer to the refusal of the call it made, which the CLI
      // sent back as the function's response.
      assert.match(result.response, /^The tool said: \{"error":"params must have required property /);
      const { tools } = result.stats;
      assert.deepEqual([tools.totalCalls, tools.totalFail], [1, 1], JSON.stringify(tools));
      assert.deepEqual(Object.keys(result.stats.models), [model]);
      const { api, tokens } = result.stats.models[model];
      assert.deepEqual([api.totalRequests, api.totalErrors], [2, 0]);
      // What the CLI counted is what Tollgate metered and charged.
      const { rows, credits } = await account.waitFor({ requests: 2, charges: 2 });
      const sum = (field) => rows.reduce((total, row) => total + row[field], 0);
      const prompt = sum('input_tokens') + sum('cache_read_tokens') + sum('cache_write_tokens');
      assert.deepEqual(
        [prompt, sum('cache_read_tokens'), sum('output_tokens'), sum('reasoning_tokens')],
        [tokens.prompt, tokens.cached, tokens.candidates + tokens.thoughts, tokens.thoughts],
      );
      assert.equal(tokens.total, prompt + sum('output_tokens'));
      for (const row of rows) {
        const counted = { inputTokens: row.input_tokens, outputTokens: row.output_tokens };
        assertRow(row, { model, endpoint: 'generate_content', streamed: true, ...counted });
      }
      account.assertCharged(rows, credits);
    });
  }
});
