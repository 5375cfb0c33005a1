// The API reference page lists every operation of the coordinator's OpenAPI document, by group, and filters them.
import { test, expect } from '@playwright/test';
import { join } from 'node:path';
import { collectErrors, screenshot, SCREENSHOTS, signIn, waitForHydration } from './support';

test('the API reference lists every documented operation and filters them', async ({ page }) => {
  const errors = collectErrors(page);
  const document = await (await page.request.get('/api/openapi.json')).json();
  expect(document.openapi).toBe('3.1.0');
  const operations = Object.values(document.paths as Record<string, object>)
    .map((methods) => Object.keys(methods).length)
    .reduce((sum, n) => sum + n, 0);
  expect(operations).toBeGreaterThan(90);

  // Reached from the sidebar of a signed-in dashboard.
  await signIn(page);
  await page.getByTestId('reference-link').click();
  await expect(page.locator('h1')).toHaveText('API reference');
  await waitForHydration(page);
  await expect(page.getByTestId('reference-operation')).toHaveCount(operations);
  await expect(page.getByTestId('reference-group')).toHaveCount(document.tags.length);
  const chat = page.getByTestId('reference-operation').filter({ hasText: '/v1/chat/completions' });
  await expect(chat).toContainText('POST');
  await expect(chat).toContainText('API key');
  await screenshot(page, 'api-reference');
  await page.screenshot({ path: join(SCREENSHOTS, 'api-reference-first-screen.png') });

  // The filter keeps what mentions the words, in its method, path or summary: as many as the document has.
  const matching = Object.entries(document.paths as Record<string, Record<string, { summary: string }>>)
    .flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => `${method} ${path} ${op.summary}`))
    .filter((text) => text.toLowerCase().includes('checkpoints')).length;
  expect(matching).toBeGreaterThan(3);
  await page.getByTestId('reference-filter').fill('checkpoints');
  const shown = page.getByTestId('reference-operation');
  await expect(shown).toHaveCount(matching);
  for (const row of await shown.all()) await expect(row).toContainText('checkpoints');
  await page.getByTestId('reference-filter').fill('no such operation');
  await expect(page.getByTestId('reference-none')).toBeVisible();
  expect(errors).toEqual([]);
});
