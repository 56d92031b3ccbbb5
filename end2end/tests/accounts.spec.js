// A person registers, signs out, signs in and sees their dashboard; the
// interactions checked here only work once the page is hydrated.
const { test, expect } = require('@playwright/test');
const { submitAdminLogin } = require('../support/admin');
const { screenshots } = require('../support/shots');

async function hydrated(page) {
  await expect(page.locator('main[data-hydrated="true"]')).toBeVisible();
}

test('a visitor registers, signs out, signs back in and sees the dashboard', async ({ page }) => {
  const email = `e2e-${Date.now()}@example.com`;
  const password = 'a-good-password';

  await page.goto('/');
  await hydrated(page);
  await screenshots(page, 'landing', () => page.getByRole('heading', { level: 1 }));
  await page.goto('/register');
  await hydrated(page);
  await screenshots(page, 'register', () => page.getByRole('button', { name: 'Create account' }));
  await page.getByLabel('Name').fill('Erin Tester');
  await page.getByLabel('Email').fill(email);
  // The live hint is computed in the browser: it only changes once hydrated.
  await page.getByLabel('Password').fill('abc');
  await expect(page.locator('#password-hint')).toHaveText('5 more characters needed.');
  await page.getByLabel('Password').fill(password);
  await expect(page.locator('#password-hint')).toHaveText('Long enough.');
  await page.getByRole('button', { name: 'Create account' }).click();

  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByRole('heading', { name: 'Welcome, Erin Tester' })).toBeVisible();
  await expect(page.locator('.stat-value.plan')).toHaveText('TRIAL');
  await expect(page.locator('.stat-value.credits')).toHaveText('0.000000');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/$/);
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav.getByRole('link', { name: 'Sign in' })).toBeVisible();
  await expect(nav.getByRole('button', { name: 'Sign out' })).toHaveCount(0);

  // The session is gone: the dashboard sends us to the login page.
  await page.goto('/dashboard');
  await expect(page).toHaveURL(/\/login\?next=%2Fdashboard$/);
  await hydrated(page);

  // "Show" reveals the password: a client-side toggle.
  const passwordInput = page.locator('#login-password');
  await expect(passwordInput).toHaveAttribute('type', 'password');
  await page.locator('#toggle-password').click();
  await expect(passwordInput).toHaveAttribute('type', 'text');

  await page.getByLabel('Email').fill(email);
  await passwordInput.fill('wrong-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('invalid email or password');

  await passwordInput.fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByRole('heading', { name: 'Welcome, Erin Tester' })).toBeVisible();
  await expect(page.getByRole('link', { name: 'Admin' })).toHaveCount(0);
});

test('an admin sees the admin navigation and can search users', async ({ page }) => {
  await page.goto('/login');
  await hydrated(page);
  await screenshots(page, 'login', () => page.getByRole('button', { name: 'Sign in' }));
  await submitAdminLogin(page);
  await expect(page).toHaveURL(/\/dashboard$/);

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).click();
  await expect(page).toHaveURL(/\/admin$/);
  await page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: 'Users' }).click();
  await expect(page).toHaveURL(/\/admin\/users$/);
  await expect(page.getByRole('cell', { name: 'admin@example.com' })).toBeVisible();

  await page.locator('#user-search').fill('no-such-person');
  await expect(page.locator('#user-count')).toHaveText('0 users');
  await page.locator('#user-search').fill('admin@');
  await expect(page.locator('#user-count')).toHaveText('1 user');
  // One page: both ends of the pager are off.
  await expect(page.getByRole('button', { name: 'Previous' })).toBeDisabled();
  await expect(page.getByRole('button', { name: 'Next' })).toBeDisabled();
});

test('a signed-out visitor is sent from a protected page to the login page', async ({ page }) => {
  await page.goto('/admin/users');
  await expect(page).toHaveURL(/\/login\?next=%2Fadmin%2Fusers$/);
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
});

test('the way back after signing in keeps the query of the page', async ({ page }) => {
  await page.goto('/usage?model=tollgate-mock&from=2026-11-01');
  await expect(page).toHaveURL(/\/login\?next=%2Fusage%3Fmodel%3Dtollgate-mock%26from%3D2026-11-01$/);
  await expect(page.locator('main[data-hydrated="true"]')).toBeVisible();
  await submitAdminLogin(page);
  await expect(page).toHaveURL(/\/usage\?model=tollgate-mock&from=2026-11-01$/);
});
