// A user creates an API key in the web UI, sees the secret once, uses it,
// and revokes it.
const { test, expect } = require('@playwright/test');
const { screenshots } = require('../support/shots');

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

  const reveal = page.locator('.reveal');
  await expect(page.locator('.toasts')).toContainText('Key created');
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

  // Edit: the form fills with the key's fields; limits and a new name are
  // saved, and the empty quota removes the limit.
  await page.locator('#keys-table tbody tr', { hasText: 'Laptop' }).getByRole('button', { name: 'Edit' }).click();
  await expect(page.getByRole('heading', { name: 'Edit “Laptop”' })).toBeVisible();
  await expect(page.locator('#key-quota')).toHaveValue('12.500000');
  await page.locator('#key-name').fill('Laptop (work)');
  await page.locator('#key-quota').fill('');
  await page.locator('#key-rpm').fill('30');
  await page.locator('#key-tpm').fill('100000');
  await page.getByRole('button', { name: 'Save key' }).click();
  await expect(page.locator('.toasts')).toContainText('Key saved');
  const edited = page.locator('#keys-table tbody tr', { hasText: 'Laptop (work)' });
  await expect(edited).toContainText('30 req/min · 100,000 tok/min');
  await expect(edited).toContainText('0.000000 / no limit');
  await expect(page.getByRole('heading', { name: 'Create a key' })).toBeVisible();
  await screenshots(page, 'keys', () => edited);

  // A limit that is not a whole number is refused, and the key is unchanged.
  await edited.getByRole('button', { name: 'Edit' }).click();
  await page.locator('#key-rpm').fill('0');
  await page.getByRole('button', { name: 'Save key' }).click();
  await expect(page.locator('#create-key-form .alert')).toContainText('Requests per minute must be a whole number above 0');
  await expect(page.locator('.toasts')).toContainText('Requests per minute must be a whole number above 0');
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(edited).toContainText('30 req/min');

  page.once('dialog', (dialog) => dialog.accept());
  await edited.getByRole('button', { name: 'Revoke' }).click();
  await expect(edited).toContainText('revoked');

  const after = await request.get('/v1/models', { headers: { Authorization: `Bearer ${secret}` } });
  expect(after.status()).toBe(401);
});
