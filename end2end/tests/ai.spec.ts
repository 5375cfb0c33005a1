// The AI page with a real agent serving the real SmolLM2 model: the catalogue shows it warm, the Playground's answer
// grows token by token, and the usage figures and chart move after the request without a reload.
import { test, expect } from '@playwright/test';
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectErrors, screenshot, signIn, startAgent, waitForHydration } from './support';

test('the Playground streams an answer from a real worker and the usage chart follows live', async ({ page }) => {
  test.setTimeout(180_000);
  const errors = collectErrors(page);
  await signIn(page);

  // A worker of this account that serves the chat model.
  await page.goto('/workers');
  await waitForHydration(page);
  await page.getByTestId('worker-name').fill('ai-box');
  await page.getByTestId('create-worker-button').click();
  await expect(page.getByTestId('config-text')).toContainText('token = "pn_');
  const download = page.waitForEvent('download');
  await page.getByTestId('download-config').click();
  const config = join(mkdtempSync(join(tmpdir(), 'pictor-agent-')), 'worker.toml');
  await (await download).saveAs(config);
  appendFileSync(config, 'serve_models = ["smollm2-135m-instruct"]\n');
  const { log, stop } = startAgent('worker', config);
  try {
    await page.goto('/ai');
    await waitForHydration(page);
    const warm = page.locator('[data-model="smollm2-135m-instruct"]').getByTestId('ai-warm-workers');
    await expect
      .poll(async () => {
        await page.reload();
        await waitForHydration(page);
        return (await warm.textContent())?.trim();
      }, { timeout: 60_000, message: log() })
      .toBe('1');
    await expect(page.getByTestId('ai-requests')).toHaveText('0');
    const chart = page.getByTestId('ai-usage-chart');
    await expect(chart).toHaveAttribute('data-tokens', '0');

    await page.getByTestId('playground-prompt').fill('Write a long story about a dragon who learns to paint.');
    await page.getByTestId('playground-max-tokens').fill('60');
    await page.getByTestId('playground-send').click();
    const answer = page.getByTestId('playground-answer');
    // The answer grows while the worker generates: seen part-way, then longer.
    await expect.poll(async () => Number(await answer.getAttribute('data-pieces')), { timeout: 30_000 }).toBeGreaterThanOrEqual(3);
    const early = Number(await answer.getAttribute('data-pieces'));
    await expect(page.getByTestId('playground-send')).toHaveText('Answering…');
    await screenshot(page, 'ai-playground-streaming');
    await expect(page.getByTestId('playground-stats')).toContainText('tokens/s', { timeout: 60_000 });
    const late = Number(await answer.getAttribute('data-pieces'));
    expect(late).toBeGreaterThan(early);
    expect((await answer.textContent())?.length ?? 0).toBeGreaterThan(40);
    await expect(page.getByTestId('playground-stats')).toContainText('60 tokens');

    // The request was settled: the usage figures follow over the event stream, no reload.
    await expect(page.getByTestId('ai-requests')).toHaveText('1', { timeout: 15_000 });
    await expect.poll(async () => Number(await chart.getAttribute('data-tokens'))).toBeGreaterThan(60);
    await expect(page.getByTestId('ai-by-model')).toContainText('smollm2-135m-instruct');
    await screenshot(page, 'ai-page');
  } finally {
    await stop();
  }
  expect(errors).toEqual([]);
});
