// Browser tests against a real Tollgate: Playwright starts the server built by
// `cargo leptos build` on a fresh SQLite data directory, and drives Debian's
// Chromium (no browser download).
const { defineConfig } = require('@playwright/test');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { bin, root, serverEnv } = require('./support/server');

const port = process.env.E2E_PORT || '3300';
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-e2e-'));

module.exports = defineConfig({
  testDir: './tests',
  timeout: 60_000,
  expect: { timeout: 10_000 },
  workers: 1,
  retries: 0,
  reporter: 'list',
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    browserName: 'chromium',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  webServer: {
    command: `${bin} serve`,
    cwd: root,
    url: `http://127.0.0.1:${port}/api/health`,
    timeout: 60_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    env: {
      ...serverEnv(dataDir, port),
      // The live overview's events every second, so its test waits little.
      TOLLGATE__LIVE__PERFORMANCE_MS: '1000',
      TOLLGATE__LIVE__ACTIVE_USERS_MS: '1000',
      // The upstream panel embeds a page of Tollgate's own.
      UPSTREAM_PANEL_URL: '/api/health',
    },
  },
});
