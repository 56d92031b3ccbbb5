// The environment every test Tollgate starts with (the main one Playwright
// starts, see playwright.config.js, and the others), and a second Tollgate
// for the specs that need other settings than the main one
// (GAMIFICATION=off, REALTIME_MODE=ws|polling): the same binary, its own
// data directory and port, started before the spec and stopped after it.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target');
const bin = process.env.TOLLGATE_BIN || path.join(targetDir, 'debug', 'tollgate');

/** The admin every test server creates on its first start. */
const ADMIN_EMAIL = 'admin@example.com';
const ADMIN_PASSWORD = 'admin-e2e-password';

/**
 * The environment every test server starts with: its data directory and
 * port, the site it serves, the admin the tests sign in as, and room for
 * the many registrations the tests send from one address.
 */
function serverEnv(dataDir, port) {
  return {
    TOLLGATE__DATA_DIR: dataDir,
    TOLLGATE__SERVER__ADDR: `127.0.0.1:${port}`,
    TOLLGATE__SERVER__SITE_ROOT: process.env.TOLLGATE_SITE_ROOT || path.join(root, 'target', 'site'),
    TOLLGATE_ADMIN_EMAIL: ADMIN_EMAIL,
    TOLLGATE_ADMIN_PASSWORD: ADMIN_PASSWORD,
    RUST_LOG: 'warn',
    // Every test registers from 127.0.0.1.
    TOLLGATE__AUTH__REGISTER_MAX_PER_WINDOW: '1000',
  };
}

/**
 * Starts Tollgate on E2E_PORT + `offset` with `env` added, and waits until
 * it answers. Returns `{ base, stop }`.
 */
async function startServer(offset, env) {
  const port = Number(process.env.E2E_PORT || '3300') + offset;
  const base = `http://127.0.0.1:${port}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-e2e-extra-'));
  const server = spawn(bin, ['serve'], {
    cwd: root,
    stdio: 'ignore',
    env: { ...process.env, ...env, ...serverEnv(dataDir, port) },
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/api/health`)).ok) break;
    } catch {
      // not listening yet
    }
    if (server.exitCode !== null || Date.now() > deadline) {
      throw new Error(`Tollgate (${JSON.stringify(env)}) did not start on ${base}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const stop = async () => {
    if (server.exitCode === null) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  return { base, stop };
}

module.exports = { ADMIN_EMAIL, ADMIN_PASSWORD, bin, root, serverEnv, startServer };
