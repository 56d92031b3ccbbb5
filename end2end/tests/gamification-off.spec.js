// With gamification off (GAMIFICATION=off) the leaderboard and presence are
// gone from the UI: no link in the header, the page says it is off, the
// dashboard shows no one online and sends no heartbeat. This needs a server
// of its own, so the test starts a second Tollgate (same binary, own data
// directory and port) and stops it afterwards.
const { test, expect } = require('@playwright/test');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target');
const bin = process.env.TOLLGATE_BIN || path.join(targetDir, 'debug', 'tollgate');
const port = Number(process.env.E2E_PORT || '3300') + 1;
const base = `http://127.0.0.1:${port}`;
const SHOTS = path.join(root, 'docs', 'screenshots');

let server;
let dataDir;

test.beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-e2e-off-'));
  server = spawn(bin, ['serve'], {
    cwd: root,
    stdio: 'ignore',
    env: {
      ...process.env,
      GAMIFICATION: 'off',
      TOLLGATE__DATA_DIR: dataDir,
      TOLLGATE__SERVER__ADDR: `127.0.0.1:${port}`,
      TOLLGATE__SERVER__SITE_ROOT: process.env.TOLLGATE_SITE_ROOT || path.join(root, 'target', 'site'),
      TOLLGATE_ADMIN_EMAIL: 'admin@example.com',
      TOLLGATE_ADMIN_PASSWORD: 'admin-e2e-password',
      RUST_LOG: 'warn',
    },
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/api/health`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`Tollgate with GAMIFICATION=off did not start on ${base}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
});

test.afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('with gamification off there is no leaderboard, presence or heartbeat', async ({ page }) => {
  const errors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`${page.url()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`${page.url()}: ${error.message}`));
  const heartbeats = [];
  page.on('request', (request) => {
    if (request.url().endsWith('/api/presence')) heartbeats.push(request.method());
  });

  await page.goto(`${base}/register`);
  await expect(page.locator('main[data-hydrated="true"]')).toBeVisible();
  await page.getByLabel('Name').fill('Olive Off');
  await page.getByLabel('Email').fill(`off-${Date.now()}@example.com`);
  await page.getByLabel('Password').fill('olives-password-1');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.locator('main[data-hydrated="true"]')).toBeVisible();

  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav.getByRole('link', { name: 'Usage' })).toBeVisible();
  await expect(nav.getByRole('link', { name: 'Leaderboard' })).toHaveCount(0);
  await expect(page.locator('#quick-stats')).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Online now' })).toHaveCount(0);
  await expect(page.locator('#top-leaders')).toHaveCount(0);

  await page.goto(`${base}/leaderboard`);
  await expect(page.locator('main[data-hydrated="true"]')).toBeVisible();
  await expect(page.locator('#leaderboard-off')).toContainText('The leaderboard is turned off');
  await expect(page.locator('#leaderboard-table')).toHaveCount(0);
  await page.screenshot({ path: path.join(SHOTS, 'leaderboard-off-desktop.png') });

  // The API agrees.
  expect((await page.request.get(`${base}/api/leaderboard`)).status()).toBe(404);
  expect(heartbeats).toEqual([]);
  expect(errors).toEqual([]);
});
