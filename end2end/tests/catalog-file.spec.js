// The catalog as code in the admin UI: what the catalog file declares is
// shown as coming from it, without the actions that would change it; what
// an admin made keeps them. A server of its own, started with the file.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { test, expect } = require('@playwright/test');
const { startServer } = require('../support/server');
const { signInAsAdmin } = require('../support/admin');

const CATALOG = `
[[providers]]
name = "declared"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
api_key_env = ["E2E_CATALOG_KEY"]

[[models]]
public_name = "declared-model"
provider = "declared"
upstream_model = "gpt-declared"
input_price = 1000000
output_price = 2000000
`;

let server;
let dir;

test.beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-e2e-catalog-'));
  const file = path.join(dir, 'catalog.toml');
  fs.writeFileSync(file, CATALOG);
  server = await startServer(4, {
    TOLLGATE__CATALOG__FILE: file,
    E2E_CATALOG_KEY: 'sk-e2e-catalog-key',
  });
});

test.afterAll(async () => {
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('items from the catalog file are marked and offer no edits', async ({ page }) => {
  await signInAsAdmin(page, server.base);
  await page.goto(`${server.base}/admin/models`);
  await expect(page.locator('main[data-hydrated="true"]')).toBeVisible();

  for (const row of [
    page.locator('#providers-table tr[data-provider="declared"]'),
    page.locator('#models-table tr[data-model="declared-model"]'),
  ]) {
    const badge = row.locator('.badge.managed');
    await expect(badge).toHaveText('in catalog.toml');
    await expect(badge).toHaveAttribute('title', /tollgate config apply/);
    await expect(row.getByRole('button')).toHaveCount(0);
  }
  const mock = page.locator('#models-table tr[data-model="tollgate-mock"]');
  await expect(mock.getByRole('button', { name: 'Edit' })).toBeVisible();
});
