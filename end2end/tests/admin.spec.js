// The admin's pages end to end, as an admin uses them: providers and models
// (prices per million tokens, write-only upstream keys), a user created by
// name whose key then calls the LLM API, a credit grant from the modal, an
// entitlement granted and revoked, a plan changed and a user deleted;
// analytics with its CSV, the audit log, the upstream panel, and the live
// overview changing without a reload (server-sent events). Every page is
// photographed at desktop and phone width, and no page may log a console
// error.
const { test, expect } = require('@playwright/test');
const fs = require('node:fs');
const { adminHeaders, submitAdminLogin } = require('../support/admin');

const { DESKTOP, screenshots: shoot } = require('../support/shots');
const MODEL = 'e2e-admin-model';

test.describe.configure({ mode: 'serial' });

/** @type {import('@playwright/test').Page} */
let page;
let consoleErrors = [];
const named = { name: 'Nina Named', secret: '', id: '' };

async function hydrated() {
  await expect(page.locator('main[data-hydrated="true"]')).toBeVisible();
}

/** The toast an action shows. */
async function toast(text) {
  await expect(page.locator('.toasts .toast', { hasText: text }).first()).toBeVisible();
}

async function screenshots(name, ready) {
  await shoot(page, name, ready);
}

/** Goes to an admin page through the admin section's navigation. */
async function adminNav(name, url) {
  await page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name, exact: true }).click();
  await expect(page).toHaveURL(url);
  await hydrated();
}

async function chat(secret, model) {
  const base = test.info().project.use.baseURL;
  return fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, max_tokens: 40, messages: [{ role: 'user', content: 'Hello from the admin tests' }] }),
  });
}

test.beforeAll(async ({ browser }) => {
  page = await browser.newPage({ viewport: DESKTOP });
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(`${page.url()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => consoleErrors.push(`${page.url()}: ${error.message}`));
});

test.afterAll(async () => {
  await page.close();
});

test('an admin signs in and reaches the admin section from the header', async () => {
  await page.goto('/login');
  await hydrated();
  await submitAdminLogin(page);
  await expect(page).toHaveURL(/\/dashboard$/);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).click();
  await expect(page).toHaveURL(/\/admin$/);
  await hydrated();
  await expect(page.locator('#live-mode')).toContainText('Live (server-sent events)');
  await expect(page.locator('#system-status')).toContainText('API: working');
  await expect(page.locator('#system-status')).toContainText('Database: working');
});

test('providers: created with a write-only key, edited, disabled', async () => {
  await adminNav('Providers & models', /\/admin\/models$/);
  await page.locator('#provider-name').fill('E2E OpenAI');
  await page.locator('#provider-kind').selectOption('openai');
  await page.locator('#provider-base-url').fill('https://api.example.com/v1');
  await page.locator('#provider-key').fill('sk-e2e-upstream-secret');
  await page.getByRole('button', { name: 'Add provider' }).click();
  await toast('Provider saved');
  const row = page.locator('#providers-table tr[data-provider="E2E OpenAI"]');
  await expect(row).toContainText('1 stored');
  await expect(row).toContainText('enabled');
  await expect(page.locator('body')).not.toContainText('sk-e2e-upstream-secret');

  // Editing shows the fields but never the key; an empty key keeps it.
  await row.getByRole('button', { name: 'Edit' }).click();
  await expect(page.locator('#provider-name')).toHaveValue('E2E OpenAI');
  await expect(page.locator('#provider-key')).toHaveValue('');
  await page.locator('#provider-name').fill('E2E OpenAI edited');
  await page.getByRole('button', { name: 'Save provider' }).click();
  await toast('Provider saved');
  const edited = page.locator('#providers-table tr[data-provider="E2E OpenAI edited"]');
  await expect(edited).toContainText('1 stored');

  await edited.getByRole('button', { name: 'Disable' }).click();
  await expect(edited).toContainText('disabled');
  await expect(edited.getByRole('button', { name: 'Enable' })).toBeVisible();
});

test('models: created with prices per million tokens, then repriced', async () => {
  await page.locator('#model-public-name').fill(MODEL);
  await page.locator('#model-provider').selectOption({ label: 'Tollgate mock' });
  await page.locator('#model-upstream').fill('tollgate-mock');
  await page.locator('#model-input-price').fill('2.5');
  await page.locator('#model-output-price').fill('10');
  await page.getByRole('button', { name: 'Add model' }).click();
  await toast('Model saved');
  const row = page.locator(`#models-table tr[data-model="${MODEL}"]`);
  await expect(row.locator('.price-input')).toHaveText('2.500000');
  await expect(row.locator('.price-output')).toHaveText('10.000000');
  await expect(row).toContainText('Tollgate mock → tollgate-mock');

  await row.getByRole('button', { name: 'Edit' }).click();
  await expect(page.locator('#model-output-price')).toHaveValue('10.000000');
  await expect(page.locator('#model-max-output')).toHaveValue('');
  await page.locator('#model-output-price').fill('12');
  await page.locator('#model-max-output').fill('4096');
  await page.getByRole('button', { name: 'Save model' }).click();
  await toast('Model saved');
  await expect(row.locator('.price-output')).toHaveText('12.000000');
  // The output cap is kept, and shown again when editing.
  await row.getByRole('button', { name: 'Edit' }).click();
  await expect(page.locator('#model-max-output')).toHaveValue('4096');
  await page.locator('#model-max-output').fill('');
  await page.getByRole('button', { name: 'Save model' }).click();
  await toast('Model saved');
  await row.getByRole('button', { name: 'Edit' }).click();
  await expect(page.locator('#model-max-output')).toHaveValue('');
  await page.getByRole('button', { name: 'Cancel' }).click();

  // A bad price is refused: by the browser, and (without the browser's
  // check) by the server, naming the field; nothing changes.
  await row.getByRole('button', { name: 'Edit' }).click();
  const input = page.locator('#model-input-price');
  await input.fill('abc');
  expect(await input.evaluate((el) => el.validity.valid)).toBe(false);
  await input.evaluate((el) => el.removeAttribute('pattern'));
  await page.locator('#model-form').evaluate((form) => form.requestSubmit());
  await expect(page.locator('#model-form .alert')).toContainText('Input price must be credits per million tokens');
  // The browser logs the refusal (400) it was made to send: expected here.
  consoleErrors = consoleErrors.filter((line) => !(line.includes('/admin/models') && line.includes('status of 400')));
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(row.locator('.price-input')).toHaveText('2.500000');
  await screenshots('admin-models', () => page.locator(`#models-table tr[data-model="${MODEL}"]`));
});

test('a user created by name gets a key shown once, which calls the API', async () => {
  await adminNav('Users', /\/admin\/users$/);
  await page.locator('#new-user-name').fill(named.name);
  await page.locator('#new-user-plan').selectOption('free');
  await page.getByRole('button', { name: 'Create user' }).click();
  await toast('User created');
  named.secret = (await page.locator('#new-user-secret').textContent()).trim();
  expect(named.secret).toMatch(/^tg-[A-Za-z0-9]{48}$/);
  await page.getByRole('button', { name: 'Copy' }).click();
  await expect(page.getByRole('button', { name: 'Copied' })).toBeVisible();

  // No credits yet: the API refuses with 402.
  const broke = await chat(named.secret, MODEL);
  expect(broke.status).toBe(402);
  await screenshots('admin-users', () => page.locator('#users-table'));
});

test('credits granted from the modal pay for a request', async () => {
  await page.locator('#users-table').getByRole('link', { name: named.name }).click();
  await expect(page).toHaveURL(/\/admin\/users\/[^/]+$/);
  named.id = page.url().split('/').pop();
  await hydrated();
  await expect(page.locator('#user-balance')).toHaveText('0.000000');
  await expect(page.locator('#user-plan')).toHaveText('FREE');

  await page.locator('#open-grant-credits').click();
  const dialog = page.getByRole('dialog', { name: 'Grant credits' });
  await expect(dialog).toBeVisible();
  await dialog.getByLabel('Amount in credits').fill('25');
  await dialog.getByLabel('Reason (needed for a negative adjustment)').fill('E2E prize');
  await dialog.getByRole('button', { name: 'Grant' }).click();
  await toast('Credits granted');
  await expect(dialog).toHaveCount(0);
  await expect(page.locator('#user-balance')).toHaveText('25.000000');
  await expect(page.locator('#user-ledger tbody tr').first()).toContainText('E2E prize');

  const paid = await chat(named.secret, MODEL);
  expect(paid.status, await paid.clone().text()).toBe(200);
  await page.reload();
  await hydrated();
  const balance = Number((await page.locator('#user-balance').textContent()).replace(/,/g, ''));
  expect(balance).toBeLessThan(25);
  expect(balance).toBeGreaterThan(24.99);
  await expect(page.locator('#user-ledger tbody tr').first()).toContainText('charge');
});

test('a model served by two deployments fails over, and the admin sees each one\'s health', async () => {
  await adminNav('Providers & models', /\/admin\/models$/);
  // A provider where nothing listens: every call of it fails.
  await page.locator('#provider-name').fill('E2E down');
  await page.locator('#provider-kind').selectOption('openai');
  await page.locator('#provider-base-url').fill('http://127.0.0.1:1/v1');
  await page.locator('#provider-key').fill('sk-e2e-down');
  await page.getByRole('button', { name: 'Add provider' }).click();
  await toast('Provider saved');

  await page.locator('#model-public-name').fill('e2e-failover');
  await page.locator('#model-provider').selectOption({ label: 'E2E down' });
  await page.locator('#model-upstream').fill('gpt-down');
  await page.locator('#model-add-deployment').click();
  await page.locator('#model-provider-1').selectOption({ label: 'Tollgate mock' });
  await page.locator('#model-upstream-1').fill('tollgate-mock');
  await page.locator('#model-priority-1').fill('1');
  await page.locator('#model-fallbacks').fill(MODEL);
  await page.locator('#model-input-price').fill('1');
  await page.locator('#model-output-price').fill('1');
  await page.getByRole('button', { name: 'Add model' }).click();
  await toast('Model saved');
  const row = page.locator('#models-table tr[data-model="e2e-failover"]');
  await expect(row.locator('li[data-upstream="gpt-down"]')).toContainText('E2E down → gpt-down · weight 1 · priority 0');
  await expect(row.locator('li[data-upstream="tollgate-mock"]')).toContainText('Tollgate mock → tollgate-mock · weight 1 · priority 1');
  await expect(row.locator('.fallbacks')).toHaveText(`then ${MODEL}`);
  await expect(row.locator('li[data-upstream="gpt-down"] .health')).toHaveText('healthy');

  // The first deployment refuses the connection; the second answers.
  const answer = await chat(named.secret, 'e2e-failover');
  expect(answer.status, await answer.clone().text()).toBe(200);
  expect(answer.headers.get('x-tollgate-attempts')).toBe('2');
  expect(answer.headers.get('x-tollgate-served-model')).toBe('e2e-failover');
  await page.reload();
  await hydrated();
  await expect(row.locator('li[data-upstream="gpt-down"] .health')).toHaveText('failing (1)');
  await expect(row.locator('li[data-upstream="gpt-down"] .health')).toHaveAttribute('title', /could not reach the provider/);
  await expect(row.locator('li[data-upstream="tollgate-mock"] .health')).toHaveText('healthy');

  // Editing keeps both rows; removing one leaves the other.
  await row.getByRole('button', { name: 'Edit' }).click();
  await expect(page.locator('#model-upstream-1')).toHaveValue('tollgate-mock');
  await expect(page.locator('#model-priority-1')).toHaveValue('1');
  await page.locator('#model-deployments').getByRole('button', { name: 'Remove' }).first().click();
  await expect(page.locator('#model-upstream')).toHaveValue('tollgate-mock');
  await expect(page.locator('#model-upstream-1')).toHaveCount(0);
  await page.getByRole('button', { name: 'Save model' }).click();
  await toast('Model saved');
  await expect(row.locator('li')).toHaveCount(1);
  await expect(row.locator('li')).toContainText('Tollgate mock → tollgate-mock · weight 1 · priority 1');

  // Back where the next test starts: the user's page.
  await page.goto(`/admin/users/${named.id}`);
  await hydrated();
});

test('an entitlement is granted on the user page and revoked on the grants page', async () => {
  await page.locator('#grant-source').selectOption('partner_referral');
  await page.locator('#grant-notes').fill('E2E partner');
  await page.locator('#grant-form').getByRole('button', { name: 'Grant' }).click();
  await toast('Pro — Lifetime granted');
  await expect(page.locator('#user-plan')).toHaveText('PRO LIFETIME');
  const grantRow = page.locator('.grants-table tbody tr', { hasText: 'E2E partner' });
  await expect(grantRow).toContainText('Pro — Lifetime');
  await expect(grantRow).toContainText('partner referral');
  await expect(grantRow).toContainText('active');
  // One active grant at a time: the form gives way to a note.
  await expect(page.locator('#grant-form')).toHaveCount(0);
  await expect(page.locator('#has-grant')).toBeVisible();
  await screenshots('admin-user', () => page.locator('#user-ledger'));

  await adminNav('Grants', /\/admin\/grants$/);
  await page.locator('.filters').getByRole('link', { name: 'Active' }).click();
  await expect(page).toHaveURL(/\/admin\/grants\?active=true$/);
  const active = page.locator('.grants-table tbody tr', { hasText: 'E2E partner' });
  await expect(active).toContainText('active');
  await screenshots('admin-grants', () => page.locator('.grants-table'));
  page.once('dialog', (dialog) => dialog.accept());
  await active.getByRole('button', { name: 'Revoke' }).click();
  await toast('Grant revoked');
  await expect(page.locator('#no-grants')).toBeVisible();
  await page.locator('.filters').getByRole('link', { name: 'Revoked' }).click();
  await expect(page).toHaveURL(/\/admin\/grants\?active=false$/);
  await expect(page.locator('.grants-table tbody tr', { hasText: 'E2E partner' })).toContainText('revoked');

  await page.goto(`/admin/users/${named.id}`);
  await hydrated();
  await expect(page.locator('#user-plan')).toHaveText('FREE');
});

test('role, plan and status are edited in the users table', async () => {
  await page.goto('/admin/users');
  await hydrated();
  const row = page.locator('#users-table tbody tr', { hasText: named.name });
  await row.getByLabel(`Plan of ${named.name}`).selectOption('pro');
  await row.getByRole('button', { name: 'Save' }).click();
  await toast('User saved');
  await page.reload();
  await hydrated();
  await expect(page.locator('#users-table tbody tr', { hasText: named.name }).getByLabel(`Plan of ${named.name}`)).toHaveValue('pro');
});

test('analytics shows the request, filters by the URL and downloads the CSV', async () => {
  await adminNav('Analytics', /\/admin\/analytics$/);
  await expect(page.locator('#llm-usage-table')).toContainText(MODEL);
  const requests = Number((await page.locator('#analytics-requests').textContent()).replace(/,/g, ''));
  expect(requests).toBeGreaterThanOrEqual(1);
  await expect(page.locator('#chart-llm-requests')).toBeVisible();
  await screenshots('admin-analytics', () => page.locator('#llm-usage-table'));

  const download = page.waitForEvent('download');
  await page.locator('#admin-csv').click();
  const file = await (await download).path();
  const csv = fs.readFileSync(file, 'utf8').trim().split('\n');
  expect(csv[0].split(',')[0]).toBe('date');
  const row = csv.find((line) => line.includes(named.id) && line.includes(MODEL));
  expect(row, csv.join('\n')).toBeTruthy();

  await page.locator('#analytics-filters input[name="model"]').fill('no-such-model');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page).toHaveURL(/model=no-such-model/);
  await expect(page.locator('#no-llm-usage')).toBeVisible();
  await page.reload();
  await hydrated();
  await expect(page.locator('#analytics-filters input[name="model"]')).toHaveValue('no-such-model');
});

test('the audit log lists the changes and filters by action', async () => {
  await adminNav('Audit log', /\/admin\/audit$/);
  const table = page.locator('#audit-table');
  for (const action of ['grant.revoke', 'grant.create', 'credits.grant', 'model.update', 'user.update', 'provider.create']) {
    await expect(table).toContainText(action);
  }
  // The repricing, and the output cap set and cleared after it.
  await expect(table.locator('tr', { hasText: 'model.update' }).filter({ hasText: 'output_price' })).toContainText('12000000');
  await expect(table.locator('tr', { hasText: 'model.update' }).filter({ hasText: 'max_output_tokens' }).first()).toContainText('max_output_tokens: 4096');
  await screenshots('admin-audit', () => table);
  await page.locator('#audit-action').selectOption('credits.grant');
  await expect(page).toHaveURL(/\/admin\/audit\?action=credits.grant$/);
  await expect(table.locator('tbody tr')).toHaveCount(1);
  await expect(table).toContainText('E2E prize');
});

test('the upstream panel shows the configured page in a frame', async () => {
  await adminNav('Upstream panel', /\/admin\/upstream$/);
  await expect(page.locator('#upstream-frame')).toHaveAttribute('src', '/api/health');
  // A panel on Tollgate's own site runs without its origin: it cannot call
  // Tollgate with the admin's cookie.
  await expect(page.locator('#upstream-frame')).toHaveAttribute('sandbox', 'allow-scripts allow-forms allow-popups');
  await expect(page.frameLocator('#upstream-frame').locator('body')).toContainText('"ok":true');
  await screenshots('admin-upstream', () => page.locator('#upstream-frame'));
});

test('the live overview changes without a reload', async ({ request }) => {
  const live = [];
  page.on('request', (req) => {
    if (req.url().endsWith('/api/admin/live')) live.push(req.url());
  });
  await adminNav('Overview', /\/admin$/);
  await expect(page.locator('#live-mode')).toContainText('updated');
  expect(live.length).toBeGreaterThan(0);
  const users = page.locator('#stat-total-users .stat-value');
  const requests = page.locator('#stat-requests-24h .stat-value');
  const usersBefore = Number((await users.textContent()).replace(/,/g, ''));
  const requestsBefore = Number((await requests.textContent()).replace(/,/g, ''));

  const admin = await adminHeaders(request);
  const created = await request.post('/api/admin/users', { headers: admin, data: { name: 'Live Louis' } });
  expect(created.status()).toBe(201);
  expect((await chat(named.secret, MODEL)).status).toBe(200);

  await expect(users).toHaveText(String(usersBefore + 1));
  await expect(requests).toHaveText(String(requestsBefore + 1));
  await expect(page.locator('#chart-latency')).toBeVisible();
  await screenshots('admin-overview', () => page.locator('#overview-stats'));
});

test('a user is deleted after confirming, and their key stops working', async () => {
  await adminNav('Users', /\/admin\/users$/);
  const row = page.locator('#users-table tbody tr', { hasText: named.name });
  page.once('dialog', (dialog) => dialog.accept());
  await row.getByRole('button', { name: 'Delete' }).click();
  await toast('User deleted');
  await expect(page.locator('#users-table tbody tr', { hasText: named.name })).toHaveCount(0);
  expect((await chat(named.secret, MODEL)).status).toBe(401);
});

test('every page is sent with the security headers, and only its own inline scripts run', async ({ browser }) => {
  const pages = [
    '/', '/login', '/register', '/dashboard', '/usage', '/credits', '/leaderboard', '/keys', '/setup',
    '/admin', '/admin/users', '/admin/grants', '/admin/models', '/admin/analytics', '/admin/audit',
    '/admin/upstream', '/no-such-page',
  ];
  for (const path of pages) {
    const response = await page.goto(path);
    const headers = response.headers();
    expect(headers['x-content-type-options'], path).toBe('nosniff');
    expect(headers['x-frame-options'], path).toBe('DENY');
    expect(headers['referrer-policy'], path).toBe('same-origin');
    const policy = headers['content-security-policy'] || '';
    expect(policy, path).toContain("frame-ancestors 'none'");
    expect(policy, path).toContain("object-src 'none'");
    const nonce = /'nonce-([^']+)'/.exec(policy)?.[1];
    expect(nonce, `${path}: ${policy}`).toBeTruthy();
    // The page hydrated: the policy let the bundle and its scripts run.
    await hydrated();
    const inline = await page.evaluate(() =>
      [...document.querySelectorAll('script:not([src])')].map((script) => script.nonce),
    );
    expect(inline.length, path).toBeGreaterThan(0);
    expect(inline.every((scriptNonce) => scriptNonce === nonce), `${path}: ${inline}`).toBe(true);
  }
  // The unknown page is a 404 on purpose.
  consoleErrors = consoleErrors.filter((line) => !(line.includes('/no-such-page') && line.includes('status of 404')));
  // A script the page did not send is refused (on a page of its own, whose
  // console does not count).
  const probe = await browser.newPage();
  await probe.goto('/login');
  const injected = await probe.evaluate(() => {
    const script = document.createElement('script');
    script.textContent = 'window.injected = true;';
    document.body.appendChild(script);
    return window.injected === true;
  });
  await probe.close();
  expect(injected).toBe(false);
});

test('no admin page logged a console error', async () => {
  expect(consoleErrors).toEqual([]);
});
