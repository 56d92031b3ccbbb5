// The user's pages end to end: a person signs up, creates a key and calls
// the LLM API with it from this test process; then the usage page shows the
// requests (table, charts, CSV download), the credits page the charge, the
// leaderboard the person (updating live), and the dashboard their figures
// and presence. Every page is also photographed at desktop and phone width
// into docs/screenshots/, and no page may log a console error.
const { test, expect } = require('@playwright/test');
const fs = require('node:fs');
const path = require('node:path');

const { adminHeaders } = require('../support/admin');
const { SHOTS, DESKTOP, PHONE, screenshots: shoot } = require('../support/shots');
const PRICED_MODEL = 'e2e-priced';
const CSV_HEADER =
  'id,created_at,model,key_id,key_name,endpoint,streamed,status_code,input_tokens,output_tokens,' +
  'cache_read_tokens,cache_write_tokens,reasoning_tokens,cost_micro_credits,cost_credits,' +
  'charged_micro_credits,charged_credits,duration_ms,error_kind';

const today = () => new Date().toISOString().slice(0, 10);

test.describe.configure({ mode: 'serial' });

/** @type {import('@playwright/test').Page} */
let page;
let consoleErrors = [];
const person = {
  name: 'Uma Usage',
  email: `pages-${Date.now()}@example.com`,
  password: 'umas-password-1',
  secret: '',
  userId: '',
};

async function hydrated() {
  await expect(page.locator('main[data-hydrated="true"]')).toBeVisible();
}

/** The LLM API, called the way a tool would: from this process, with the key. */
async function chat(model, content) {
  const base = test.info().project.use.baseURL;
  const response = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${person.secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, max_tokens: 50, messages: [{ role: 'user', content }] }),
  });
  expect(response.status, await response.clone().text()).toBe(200);
  return response.json();
}

/** Screenshots of the current page at both widths, once its data is in. */
async function screenshots(name, ready) {
  await shoot(page, name, ready);
}

test.beforeAll(async ({ browser }) => {
  const context = await browser.newContext({ viewport: DESKTOP, acceptDownloads: true });
  page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(`${page.url()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => consoleErrors.push(`${page.url()}: ${error.message}`));
});

test.afterEach(() => {
  const errors = consoleErrors;
  consoleErrors = [];
  expect(errors, 'console errors').toEqual([]);
});

test.afterAll(async () => {
  await page.context().close();
});

test('a new user signs up, creates a key and calls a model with it', async ({ request }) => {
  await page.goto('/register');
  await hydrated();
  await page.getByLabel('Name').fill(person.name);
  await page.getByLabel('Email').fill(person.email);
  await page.getByLabel('Password').fill(person.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page).toHaveURL(/\/dashboard$/);

  // Before any request the pages say what to do next.
  await expect(page.locator('#recent-empty')).toContainText('No requests yet');
  await page.goto('/credits');
  await hydrated();
  await expect(page.locator('#credits-empty')).toContainText('No credit activity yet');
  await expect(page.locator('#credits-empty').getByRole('link', { name: 'Create an API key' })).toBeVisible();

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API keys' }).click();
  await expect(page).toHaveURL(/\/keys$/);
  await hydrated();
  await page.getByLabel('Name').fill('Usage laptop');
  await page.getByRole('button', { name: 'Create key' }).click();
  person.secret = (await page.locator('#new-key-secret').textContent()).trim();
  expect(person.secret).toMatch(/^tg-[A-Za-z0-9]{48}$/);

  // An admin grants credits and offers a priced model on the built-in mock
  // provider, so that a request is charged.
  const me = await page.request.get('/api/users/me');
  person.userId = (await me.json()).user.id;
  const admin = await adminHeaders(request);
  const granted = await request.post('/api/admin/credits/grant', {
    headers: admin,
    data: { user_id: person.userId, amount: '1250.5', reason: 'Welcome to the e2e hackathon' },
  });
  expect(granted.status()).toBe(200);
  const providers = await (await request.get('/api/admin/providers', { headers: admin })).json();
  const mock = providers.providers.find((provider) => provider.kind === 'mock');
  const model = await request.post('/api/admin/models', {
    headers: admin,
    data: {
      public_name: PRICED_MODEL,
      provider_id: mock.id,
      upstream_model: 'tollgate-mock',
      input_price: 1_000_000_000,
      output_price: 2_000_000_000,
    },
  });
  expect(model.status()).toBe(201);

  const first = await chat('tollgate-mock', 'Hello from the browser tests');
  expect(first.choices[0].message.content).toBeTruthy();
  await chat('tollgate-mock', 'A second question');
  await chat(PRICED_MODEL, 'A priced question');
});

test('the setup page fills in the address, the key prefix and a model', async () => {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Setup' }).click();
  await expect(page).toHaveURL(/\/setup$/);
  await hydrated();
  const base = test.info().project.use.baseURL;
  const prefix = person.secret.slice(0, 11);
  await expect(page.locator('#setup-key-note')).toContainText(prefix);
  const claude = page.locator('.guide', { hasText: 'Claude Code' });
  await expect(claude).toContainText(`export ANTHROPIC_BASE_URL=${base}`);
  await expect(claude).toContainText(`export ANTHROPIC_AUTH_TOKEN=${prefix}…`);
  await expect(claude).toContainText('export ANTHROPIC_MODEL=');
  const gemini = page.locator('.guide', { hasText: 'Gemini CLI' });
  await expect(gemini).toContainText(`export GOOGLE_GEMINI_BASE_URL=${base}`);
  await expect(gemini).toContainText(`export GEMINI_API_KEY=${prefix}…`);
  await expect(page.locator('.guide', { hasText: 'OpenAI SDK (Python)' })).toContainText(`base_url="${base}/v1"`);
  await expect(page.locator('.guide', { hasText: 'curl' })).toContainText(`curl ${base}/v1/chat/completions`);
  await claude.getByRole('button', { name: 'Copy' }).click();
  await expect(claude.getByRole('button', { name: 'Copied' })).toBeVisible();
  await screenshots('setup', () => page.locator('.guide').first());
});

test('the API reference shows every operation and schema of the OpenAPI description', async () => {
  const base = test.info().project.use.baseURL;
  const spec = await (await fetch(`${base}/api/openapi.json`)).json();
  const methods = ['get', 'post', 'put', 'patch', 'delete'];
  const operations = Object.values(spec.paths).flatMap((item) => methods.filter((m) => item[m]));
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API', exact: true }).click();
  await expect(page).toHaveURL(/\/api-reference$/);
  await hydrated();
  await expect(page.locator('.api-operation')).toHaveCount(operations.length);
  await expect(page.locator('.api-schema')).toHaveCount(Object.keys(spec.components.schemas).length);
  await screenshots('api-reference', () => page.locator('.api-operation').first());
  const chat = page.locator('.api-operation', { hasText: 'POST /v1/chat/completions' });
  await expect(chat).toContainText('ChatCompletion');
  await expect(page.locator('.api-operation', { hasText: 'GET /api/health' })).toContainText('public');
  // A request body links to its schema, which lists its fields.
  const createKey = page.locator('.api-operation', { hasText: 'POST /api/keys' });
  await createKey.locator('summary').click();
  await createKey.getByRole('link', { name: 'NewKey' }).click();
  await expect(page).toHaveURL(/#schema-NewKey$/);
  const newKey = page.locator('#schema-NewKey');
  await expect(newKey.locator('summary')).toBeVisible();
  await newKey.locator('summary').click();
  await expect(newKey.getByRole('cell', { name: 'quota_micro_credits' })).toBeVisible();
  await newKey.locator('summary').click();
});

test('the usage page shows the requests in its table and charts', async () => {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Usage' }).click();
  await expect(page).toHaveURL(/\/usage$/);
  await hydrated();

  const rows = page.locator('#usage-table tbody tr');
  await expect(rows).toHaveCount(3);
  await expect(rows.first()).toContainText(PRICED_MODEL);
  await expect(rows.first()).toContainText('Usage laptop');
  await expect(page.locator('#usage-table')).toContainText('tollgate-mock');
  await expect(page.locator('#usage-requests')).toHaveText('3');
  // The exact time is on hover.
  await expect(rows.first().locator('time')).toHaveAttribute('title', /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/);

  // One bar per day of the last 30 days; today's says 3 requests.
  await expect(page.locator('#chart-requests .chart-bar')).toHaveCount(30);
  const todayMark = page.locator('#chart-requests .chart-mark').last();
  await expect(todayMark.locator('title')).toHaveText(`${today()}: 3 requests`);
  expect(Number(await todayMark.locator('.chart-bar').getAttribute('height'))).toBeGreaterThan(0);
  await expect(page.locator('#chart-credits .chart-line')).toHaveCount(1);
  await expect(page.locator('#chart-models')).toContainText('tollgate-mock');
  await expect(page.locator('#chart-models')).toContainText(PRICED_MODEL);
  // Hovering shows the value at once (drawn by the hydrated page).
  await todayMark.hover();
  await expect(page.locator('#chart-requests .chart-tooltip')).toHaveText(`${today()}: 3 requests`);

  await screenshots('usage', () => page.locator('#chart-requests'));
});

test('usage filters live in the URL, survive a reload and shape the CSV', async () => {
  await page.goto('/usage');
  await hydrated();
  await page.locator('#usage-model').selectOption('tollgate-mock');
  await expect(page).toHaveURL(/\/usage\?model=tollgate-mock$/);
  await expect(page.locator('#usage-table tbody tr')).toHaveCount(2);

  await page.locator('#usage-from').fill(today());
  await expect(page).toHaveURL(new RegExp(`from=${today()}`));
  await page.locator('#usage-to').fill(today());
  await expect(page).toHaveURL(new RegExp(`to=${today()}`));
  await expect(page.locator('#usage-range')).toContainText(`${today()} – ${today()}`);
  await expect(page.locator('#chart-requests .chart-bar')).toHaveCount(1);
  // Charts drawn in the browser (after a filter change) are real SVG too,
  // so their <title> is a tooltip.
  const title = page.locator('#chart-requests .chart-hit title');
  await expect(title).toHaveText(`${today()}: 2 requests`);
  expect(await title.evaluate((node) => node.namespaceURI)).toBe('http://www.w3.org/2000/svg');

  // A shared link (or a reload) shows the same view.
  const shared = page.url();
  await page.reload();
  await hydrated();
  expect(page.url()).toBe(shared);
  await expect(page.locator('#usage-model')).toHaveValue('tollgate-mock');
  await expect(page.locator('#usage-from')).toHaveValue(today());
  await expect(page.locator('#usage-table tbody tr')).toHaveCount(2);
  await expect(page.locator('#usage-table')).not.toContainText(PRICED_MODEL);

  // The CSV is exactly what is filtered: a header row and one row per request.
  const link = page.getByRole('link', { name: 'Download CSV' });
  await expect(link).toHaveAttribute('href', `/api/users/me/usage.csv?from=${today()}&to=${today()}&model=tollgate-mock`);
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  expect(download.suggestedFilename()).toBe(`tollgate-usage-${today()}-${today()}.csv`);
  const lines = fs.readFileSync(await download.path(), 'utf8').trim().split(/\r?\n/);
  expect(lines[0]).toBe(CSV_HEADER);
  expect(lines).toHaveLength(3);
  for (const line of lines.slice(1)) {
    expect(line.split(',')[2]).toBe('tollgate-mock');
    expect(line.split(',')[4]).toBe('Usage laptop');
  }

  // Filtering by key keeps the other filters; clearing them shows everything.
  const keyId = await page.locator('#usage-key option', { hasText: 'Usage laptop' }).getAttribute('value');
  await page.locator('#usage-key').selectOption(keyId);
  await expect(page).toHaveURL(new RegExp(`key_id=${keyId}`));
  await expect(page).toHaveURL(/model=tollgate-mock/);
  await page.locator('#clear-filters').click();
  await expect(page).toHaveURL(/\/usage$/);
  await expect(page.locator('#usage-table tbody tr')).toHaveCount(3);
  await expect(page.locator('#usage-model')).toHaveValue('');
  const [all] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Download CSV' }).click(),
  ]);
  expect(fs.readFileSync(await all.path(), 'utf8').trim().split(/\r?\n/)).toHaveLength(4);
});

test('the credits page shows the balance and the charge in the history', async () => {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Credits' }).click();
  await expect(page).toHaveURL(/\/credits$/);
  await hydrated();

  const charge = page.locator('#credit-history tbody tr[data-kind="charge"]');
  await expect(charge).toHaveCount(1);
  await expect(charge).toContainText(/-0\.\d{6}/);
  await expect(charge.locator('code')).toHaveText(/^req_/);
  const grant = page.locator('#credit-history tbody tr[data-kind="grant"]');
  await expect(grant).toContainText('+1,250.500000');
  await expect(grant).toContainText('Welcome to the e2e hackathon');
  await expect(page.locator('#credit-balance')).toHaveText(/^1,250\.\d{6}$/);
  await expect(page.locator('#credit-balance')).not.toHaveText('1,250.500000');
  await expect(charge.locator('time')).toHaveAttribute('title', /UTC$/);

  // The filter is in the URL too.
  await page.locator('#credit-kind').selectOption('charge');
  await expect(page).toHaveURL(/\/credits\?kind=charge$/);
  await expect(page.locator('#credit-history tbody tr')).toHaveCount(1);
  await page.reload();
  await hydrated();
  await expect(page.locator('#credit-kind')).toHaveValue('charge');
  await expect(page.locator('#credit-history tbody tr')).toHaveCount(1);
  await page.locator('#credit-kind').selectOption('refund');
  await expect(page.locator('#credits-empty')).toContainText('No refunds yet');
  await page.locator('#credit-kind').selectOption('');
  await expect(page.locator('#credit-history tbody tr')).toHaveCount(2);

  await screenshots('credits', () => page.locator('#credit-history'));
});

test('the leaderboard shows the user and updates live', async () => {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Leaderboard' }).click();
  await expect(page).toHaveURL(/\/leaderboard$/);
  await hydrated();

  const mine = page.locator('#leaderboard-table tbody tr.is-you');
  await expect(mine).toContainText(person.name);
  await expect(mine.locator('td').nth(2)).toHaveText('3');
  await expect(mine.locator('td').nth(3)).toHaveText('tollgate-mock');
  await expect(mine.locator('td').nth(4)).toHaveText('2');
  await expect(mine.locator('time')).toHaveAttribute('title', /UTC$/);
  await expect(page.locator('.podium')).toContainText(person.name);

  // A request made elsewhere shows up without a reload.
  await chat('tollgate-mock', 'One more for the leaderboard');
  await expect(mine.locator('td').nth(2)).toHaveText('4', { timeout: 15_000 });
  await screenshots('leaderboard', () => page.locator('#leaderboard-table'));

  // A tab in the background asks nothing; back in view, it asks again.
  const asked = [];
  const count = (req) => {
    if (req.url().includes('/rpc/leaderboard')) asked.push(req.url());
  };
  page.on('request', count);
  await page.evaluate(() => Object.defineProperty(document, 'hidden', { value: true, configurable: true }));
  await page.waitForTimeout(6_000);
  expect(asked).toEqual([]);
  await page.evaluate(() => Object.defineProperty(document, 'hidden', { value: false, configurable: true }));
  await expect.poll(() => asked.length, { timeout: 10_000 }).toBeGreaterThan(0);
  page.off('request', count);
});

test('the dashboard shows the figures, presence, the top four and recent requests', async () => {
  const heartbeat = page.waitForRequest(
    (request) => request.url().endsWith('/api/presence') && request.method() === 'POST',
  );
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await hydrated();
  await heartbeat;

  await expect(page.locator('#stat-requests')).toHaveText('4');
  await expect(page.locator('#stat-top-model')).toHaveText('tollgate-mock');
  await expect(page.locator('#stat-spent')).toHaveText(/^0\.\d{6}$/);
  await expect(page.locator('#online-list')).toContainText(person.name);
  await expect(page.locator('#online-list li.is-you')).toContainText('you');
  await expect(page.locator('#top-leaders tbody tr', { hasText: person.name })).toBeVisible();
  expect(await page.locator('#top-leaders tbody tr').count()).toBeLessThanOrEqual(4);
  await expect(page.locator('#recent-requests tbody tr')).toHaveCount(4);
  await expect(page.locator('.stat-value.credits')).toHaveText(/^1,250\.\d{6}$/);

  // Presence is what GET /api/presence says.
  const online = await (await page.request.get('/api/presence')).json();
  expect(online.online.map((user) => user.name)).toContain(person.name);

  await screenshots('dashboard', () => page.locator('#online-list'));
});

test('the credit history pages through long ledgers, page in the URL', async ({ request }) => {
  const admin = await adminHeaders(request);
  for (let n = 1; n <= 20; n += 1) {
    const granted = await request.post('/api/admin/credits/grant', {
      headers: admin,
      data: { user_id: person.userId, amount: '0.000001', reason: `Top-up ${n}` },
    });
    expect(granted.status()).toBe(200);
  }

  await page.goto('/credits');
  await hydrated();
  // 1 grant + 1 charge + 20 top-ups, newest first, 20 a page.
  await expect(page.locator('#credit-count')).toHaveText('22 entries');
  await expect(page.locator('#credit-history tbody tr')).toHaveCount(20);
  await expect(page.locator('#credit-history tbody tr').first()).toContainText('Top-up 20');
  const pager = page.getByRole('navigation', { name: 'Credit history pages' });
  await expect(pager).toContainText('Page 1 of 2');
  await pager.getByRole('link', { name: 'Next' }).click();
  await expect(page).toHaveURL(/\/credits\?page=2$/);
  await expect(page.locator('#credit-history tbody tr')).toHaveCount(2);
  await expect(page.locator('#credit-history tbody tr[data-kind="charge"]')).toHaveCount(1);
  await page.reload();
  await hydrated();
  await expect(pager).toContainText('Page 2 of 2');
  await pager.getByRole('link', { name: 'Previous' }).click();
  await expect(page).toHaveURL(/\/credits$/);
  await expect(page.locator('#credit-history tbody tr')).toHaveCount(20);
});

test('on a phone the navigation folds behind a labelled menu button', async () => {
  await page.setViewportSize(PHONE);
  await page.goto('/usage');
  await hydrated();
  const toggle = page.getByRole('button', { name: 'Menu' });
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(toggle).toHaveAttribute('aria-expanded', 'false');
  await expect(toggle).toHaveAttribute('aria-controls', 'main-nav');
  await expect(nav.getByRole('link', { name: 'Credits' })).toBeHidden();

  await toggle.click();
  await expect(toggle).toHaveAttribute('aria-expanded', 'true');
  await page.screenshot({ path: path.join(SHOTS, 'navigation-phone.png') });
  await nav.getByRole('link', { name: 'Credits' }).click();
  await expect(page).toHaveURL(/\/credits$/);
  // Following a link closes the menu again.
  await expect(toggle).toHaveAttribute('aria-expanded', 'false');
  await expect(nav.getByRole('link', { name: 'Usage' })).toBeHidden();

  // Keyboard users can skip the header, and always see where focus is.
  await page.reload();
  await hydrated();
  await page.keyboard.press('Tab');
  const skip = page.getByRole('link', { name: 'Skip to content' });
  await expect(skip).toBeFocused();
  await expect(skip).toBeInViewport();
  await page.keyboard.press('Tab');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  expect(outline).toBe('solid');
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/\/credits#main$/);
  await page.setViewportSize(DESKTOP);
});
