// Signing in as the admin every test server starts with: through the login
// form as a person does, or through the API for a test's arrange steps. One
// place for the steps, so a change to the form is made once.
const { expect } = require('@playwright/test');

const { ADMIN_EMAIL, ADMIN_PASSWORD } = require('./server');

/** Fills the login form of the page shown with the admin's credentials and submits it. */
async function submitAdminLogin(page) {
  await page.getByLabel('Email').fill(ADMIN_EMAIL);
  await page.locator('#login-password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/**
 * Opens the login page of the server at `base` (the main one by default),
 * waits until it is hydrated, signs the admin in and waits for the
 * dashboard.
 */
async function signInAsAdmin(page, base = '') {
  await page.goto(`${base}/login`);
  await expect(page.locator('main[data-hydrated="true"]')).toBeVisible();
  await submitAdminLogin(page);
  await expect(page).toHaveURL(/\/dashboard$/);
}

/**
 * Signs the admin in through the API of the server at `base` with
 * Playwright's `request`; returns the headers that authenticate as them.
 */
async function adminHeaders(request, base = '') {
  const login = await request.post(`${base}/api/auth/login`, {
    data: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD },
  });
  expect(login.status()).toBe(200);
  return { Authorization: `Bearer ${(await login.json()).token}` };
}

module.exports = { adminHeaders, signInAsAdmin, submitAdminLogin };
