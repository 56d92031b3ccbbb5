// A user creates an API key in the web UI, sees the secret once, uses it,
// and revokes it.
const { test, expect } = require('@playwright/test');

test('a user creates a key, sees its secret once and revokes it', async ({ page, request }) => {
  const email = `keys-${Date.now()}@example.com`;
  await page.goto('/register');
  await expect(page.locator('main[data-hydrated="true"]')).toBeVisible();
  await page.getByLabel('Name').fill('Kim Keys');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('kims-password-1');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page).toHaveURL(/\/dashboard$/);

  await page.getByRole('link', { name: 'API keys' }).click();
  await expect(page).toHaveURL(/\/keys$/);
  await expect(page.locator('#no-keys')).toBeVisible();

  await page.getByLabel('Name').fill('Laptop');
  await page.getByLabel('Spending quota in credits (optional)').fill('12.5');
  await page.getByRole('button', { name: 'Create key' }).click();

  const reveal = page.getByRole('status');
  await expect(reveal).toContainText('you will not see it again');
  const secret = (await page.locator('#new-key-secret').textContent()).trim();
  expect(secret).toMatch(/^tg-[A-Za-z0-9]{48}$/);
  const row = page.locator('#keys-table tbody tr', { hasText: 'Laptop' });
  await expect(row).toContainText(secret.slice(0, 11));
  await expect(row).toContainText('0.000000 / 12.500000');
  await expect(row).toContainText('active');
  await expect(page.locator('#keys-table')).not.toContainText(secret);
  await page.getByRole('button', { name: 'Copy' }).click();
  await expect(page.getByRole('button', { name: 'Copied' })).toBeVisible();

  // The key works against the LLM API.
  const models = await request.get('/v1/models', { headers: { Authorization: `Bearer ${secret}` } });
  expect(models.status()).toBe(200);

  // The secret is not shown again after a reload.
  await page.reload();
  await expect(page.locator('main[data-hydrated="true"]')).toBeVisible();
  await expect(page.locator('#new-key-secret')).toHaveCount(0);

  page.once('dialog', (dialog) => dialog.accept());
  await page.locator('#keys-table tbody tr', { hasText: 'Laptop' }).getByRole('button', { name: 'Revoke' }).click();
  await expect(page.locator('#keys-table tbody tr', { hasText: 'Laptop' })).toContainText('revoked');

  const after = await request.get('/v1/models', { headers: { Authorization: `Bearer ${secret}` } });
  expect(after.status()).toBe(401);
});
