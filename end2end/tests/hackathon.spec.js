// The hackathon flow: an admin creates a person by name and hands them an API
// key; they sign in to the web UI with that key.
const { test, expect } = require('@playwright/test');

test('a person created by name signs in to the web UI with their key', async ({ page, request }) => {
  const login = await request.post('/api/auth/login', {
    data: { email: 'admin@example.com', password: 'admin-e2e-password' },
  });
  expect(login.status()).toBe(200);
  const { token } = await login.json();

  const created = await request.post('/api/admin/users', {
    data: { name: 'Hacker Hank' },
    headers: { Authorization: `Bearer ${token}` },
  });
  expect(created.status()).toBe(201);
  const { secret } = await created.json();
  expect(secret).toMatch(/^tg-[A-Za-z0-9]{48}$/);

  await page.goto('/login');
  await expect(page.locator('main[data-hydrated="true"]')).toBeVisible();
  await page.getByText('Sign in with an API key instead').click();
  await page.getByLabel('API key').fill('tg-not-a-real-key-not-a-real-key-not-a-real-key');
  await page.getByRole('button', { name: 'Sign in with key' }).click();
  await expect(page.getByRole('alert')).toContainText('invalid, revoked or expired API key');

  await page.getByLabel('API key').fill(secret);
  await page.getByRole('button', { name: 'Sign in with key' }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByRole('heading', { name: 'Welcome, Hacker Hank' })).toBeVisible();
});
