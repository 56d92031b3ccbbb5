// The live overview in the other two REALTIME_MODEs: over a WebSocket, and
// by polling (the live endpoints answer 404). Each mode needs a server of
// its own; in both, a user created meanwhile shows up without a reload.
const { test, expect } = require('@playwright/test');
const { startServer } = require('../support/server');
const { adminHeaders, signInAsAdmin } = require('../support/admin');

for (const [mode, offset, label] of [
  ['ws', 2, 'Live (WebSocket)'],
  ['polling', 3, 'Refreshing every 5 s'],
]) {
  test.describe(`REALTIME_MODE=${mode}`, () => {
    let server;

    test.beforeAll(async () => {
      server = await startServer(offset, {
        REALTIME_MODE: mode,
        TOLLGATE__LIVE__PERFORMANCE_MS: '1000',
        TOLLGATE__LIVE__ACTIVE_USERS_MS: '1000',
      });
    });

    test.afterAll(async () => {
      await server?.stop();
    });

    test(`the overview follows the figures (${mode})`, async ({ page, request }) => {
      const errors = [];
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(message.text());
      });
      const sockets = [];
      page.on('websocket', (socket) => sockets.push(socket.url()));
      const live = [];
      page.on('request', (req) => {
        if (req.url().includes('/api/admin/live')) live.push(req.url());
      });

      await signInAsAdmin(page, server.base);
      await page.goto(`${server.base}/admin`);
      await expect(page.locator('main[data-hydrated="true"]')).toBeVisible();
      await expect(page.locator('#live-mode')).toContainText(label);

      const users = page.locator('#stat-total-users .stat-value');
      await expect(users).toHaveText('1');
      const admin = await adminHeaders(request, server.base);
      const created = await request.post(`${server.base}/api/admin/users`, {
        headers: admin,
        data: { name: `Mode ${mode}` },
      });
      expect(created.status()).toBe(201);
      await expect(users).toHaveText('2');

      if (mode === 'ws') {
        expect(sockets.some((url) => url.endsWith('/api/admin/live/ws'))).toBe(true);
        await expect(page.locator('#live-mode')).toContainText('updated');
      } else {
        // Polling opens no stream at all.
        expect(sockets).toEqual([]);
        expect(live).toEqual([]);
      }
      expect(errors).toEqual([]);
    });
  });
}
