// Helpers shared by the end-to-end specs: hydration wait, error capture, screenshots.
import { expect, Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { installWallet, TestWallet } from './wallet';

export const SCREENSHOTS = join(__dirname, '..', 'screenshots');
mkdirSync(SCREENSHOTS, { recursive: true });

/** Waits until the WASM bundle has hydrated the server-rendered page. */
export async function waitForHydration(page: Page) {
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
}

/** Collects uncaught page errors and console errors, to assert none happened. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  return errors;
}

export async function screenshot(page: Page, name: string) {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Signs in through the real sign-in page with a fresh test wallet; ends on the Overview page. */
export async function signIn(page: Page): Promise<TestWallet> {
  const wallet = await installWallet(page);
  await page.goto('/signin');
  await waitForHydration(page);
  await page.getByTestId('signin-petra').click();
  await expect(page.locator('h1')).toHaveText('Overview');
  await waitForHydration(page);
  return wallet;
}
