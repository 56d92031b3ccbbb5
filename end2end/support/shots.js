// Screenshots for docs/screenshots/: each page at desktop and phone width,
// full length, from the top, with nothing hovered or focused.
const { expect } = require('@playwright/test');
const fs = require('node:fs');
const path = require('node:path');

const SHOTS = path.join(__dirname, '..', '..', 'docs', 'screenshots');
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 375, height: 812 };

/** `name-desktop.png` and `name-phone.png`, once `ready()` is visible. */
async function screenshots(page, name, ready) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.mouse.move(0, 0);
  await page.evaluate(() => {
    document.activeElement?.blur();
    window.scrollTo(0, 0);
    // Toasts float over the page: dismissed, not photographed.
    document.querySelectorAll('.toast-close').forEach((button) => button.click());
  });
  await expect(page.locator('.toast')).toHaveCount(0);
  for (const [suffix, size] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    await page.setViewportSize(size);
    await expect(ready()).toBeVisible();
    await page.screenshot({ path: path.join(SHOTS, `${name}-${suffix}.png`), fullPage: true });
  }
  await page.setViewportSize(DESKTOP);
}

module.exports = { SHOTS, DESKTOP, PHONE, screenshots };
