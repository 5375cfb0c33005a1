// Hydration really works: client-side interactions change the page without a reload.
import { test, expect } from '@playwright/test';
import { collectErrors, screenshot, signIn, waitForHydration } from './support';

test.beforeEach(async ({ page }) => {
  await signIn(page);
});

test('theme toggle switches dark and light and is remembered', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/');
  await waitForHydration(page);
  const root = page.locator('html');
  const toggle = page.getByTestId('theme-toggle');
  await expect(root).toHaveAttribute('data-theme', 'dark');
  await expect(toggle).toHaveText('☀ Light');

  await toggle.click();
  await expect(root).toHaveAttribute('data-theme', 'light');
  await expect(toggle).toHaveText('☾ Dark');
  await expect(toggle).toHaveAttribute('aria-pressed', 'true');

  await page.reload();
  await waitForHydration(page);
  await expect(root).toHaveAttribute('data-theme', 'light');
  await expect(toggle).toHaveText('☾ Dark');
  expect(errors).toEqual([]);
});

test('sidebar links navigate on the client without reloading the page', async ({ page }) => {
  await page.goto('/');
  await waitForHydration(page);
  await page.evaluate(() => ((window as any).__sameDocument = true));
  await page.locator('.nav-list').getByRole('link', { name: 'Checker Nodes' }).click();
  await expect(page).toHaveURL(/\/checkers$/);
  await expect(page.locator('h1')).toHaveText('Checker Nodes');
  await page.locator('.nav-list').getByRole('link', { name: 'Credit' }).click();
  await expect(page.locator('h1')).toHaveText('Credit');
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
});

test('on a phone the sidebar is a drawer opened from the menu button', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto('/rendering');
  await waitForHydration(page);
  const sidebar = page.locator('.sidebar');
  await expect(sidebar).not.toBeInViewport();
  await page.getByRole('button', { name: 'Open menu' }).click();
  await expect(sidebar).toBeInViewport();
  await screenshot(page, 'mobile-drawer');
  await sidebar.getByRole('link', { name: 'Rewards' }).click();
  await expect(page.locator('h1')).toHaveText('Rewards');
  await expect(sidebar).not.toBeInViewport();
  await screenshot(page, 'mobile-rewards');
});
