// With gamification off (GAMIFICATION=off) the leaderboard and presence are
// gone from the UI: no link in the header, the page says it is off, the
// dashboard shows no one online and sends no heartbeat. This needs a server
// of its own, so the test starts a second Tollgate (same binary, own data
// directory and port) and stops it afterwards.
const { test, expect } = require('@playwright/test');
const path = require('node:path');
const { root, startServer } = require('../support/server');

const SHOTS = path.join(root, 'docs', 'screenshots');

let server;
let base;

test.beforeAll(async () => {
  server = await startServer(1, { GAMIFICATION: 'off' });
  base = server.base;
});

test.afterAll(async () => {
  await server?.stop();
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
