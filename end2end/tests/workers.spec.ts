// My Workers with the real agent: create a worker in the UI, download its config, run `pictor-agent worker` with it,
// watch it come online and its metrics chart move without reload, stop it and watch it go offline.
import { test, expect } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectErrors, screenshot, signIn, startAgent, waitForHydration } from './support';

test('create a worker, run the real agent with its config, watch it live, stop it', async ({ page }) => {
  test.setTimeout(180_000);
  const errors = collectErrors(page);
  await signIn(page);
  await page.goto('/workers');
  await waitForHydration(page);
  await expect(page.getByTestId('no-workers')).toBeVisible();

  await page.getByTestId('worker-name').fill('e2e-box');
  await page.getByTestId('create-worker-button').click();
  await expect(page.getByTestId('config-text')).toContainText('token = "pn_');
  const download = page.waitForEvent('download');
  await page.getByTestId('download-config').click();
  const config = join(mkdtempSync(join(tmpdir(), 'pictor-agent-')), 'worker.toml');
  await (await download).saveAs(config);

  await page.reload();
  await waitForHydration(page);
  const row = page.getByTestId('worker-row').filter({ hasText: 'e2e-box' });
  const status = row.locator('.status');
  await expect(status).toHaveAttribute('data-status', 'new');

  // The real agent: probes the machine, benchmarks the installed Blender, registers, heartbeats.
  const { process: agent, log, stop } = startAgent('worker', config, []);
  try {
    await expect(status, log()).toHaveAttribute('data-status', 'online', { timeout: 120_000 });
    await expect(page.getByTestId('count-online')).toHaveText('1');
    const heartbeats = page.getByTestId('fleet-heartbeats');
    await expect.poll(async () => Number(await heartbeats.getAttribute('data-updates')), { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
    await screenshot(page, 'workers-summary');

    await row.getByRole('link', { name: 'e2e-box' }).click();
    await expect(page.getByTestId('worker-title')).toHaveText('e2e-box');
    await waitForHydration(page);
    await expect(page.getByTestId('blenders')).toContainText('Blender');
    await expect(page.getByTestId('blenders')).toContainText('score');
    // scripts/setup installs bubblewrap: the agent found it and boxes every Blender it starts.
    await expect(page.getByTestId('hardware')).toContainText('Sandbox');
    await expect(page.getByTestId('hardware')).toContainText('bubblewrap');
    const chart = page.getByTestId('worker-chart');
    const before = Number(await chart.getAttribute('data-points'));
    await expect.poll(async () => Number(await chart.getAttribute('data-points')), { timeout: 20_000 }).toBeGreaterThanOrEqual(before + 2);
    await expect(chart.locator('canvas')).toHaveCount(1);
    await expect(page.locator('#worker-day-chart canvas')).toHaveCount(1);
    await screenshot(page, 'worker-details');

    // Ctrl-C: the agent signs off and the page shows it without a reload.
    agent.kill('SIGINT');
    await expect(page.getByTestId('worker-title').locator('..').locator('.status')).toHaveAttribute('data-status', 'offline', { timeout: 15_000 });
  } finally {
    await stop();
  }
  expect(log()).toContain('registered');
  expect(errors).toEqual([]);
});

test('settings are validated and saved, and a sleeping schedule shows', async ({ page }) => {
  await signIn(page);
  await page.goto('/workers');
  await waitForHydration(page);
  await page.getByTestId('worker-name').fill('settings-box');
  await page.getByTestId('create-worker-button').click();
  await expect(page.getByTestId('config-text')).toBeVisible();
  await page.reload();
  await page.getByTestId('worker-row').filter({ hasText: 'settings-box' }).getByRole('link').click();
  await waitForHydration(page);

  await page.getByTestId('price').fill('-1');
  await page.getByTestId('save-settings').click();
  await expect(page.getByTestId('settings-error')).toContainText('not an amount of credits');

  await page.getByTestId('price').fill('0.25');
  await page.getByTestId('tags').fill('GPU, fast-ssd');
  await page.getByTestId('sleep-enabled').check();
  for (const day of ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']) await page.getByLabel(day, { exact: true }).check();
  await page.getByTestId('sleep-start').fill('00:00');
  await page.getByTestId('sleep-end').fill('23:59');
  await page.getByTestId('save-settings').click();
  await expect(page.getByTestId('settings-saved')).toHaveText('Saved.');
  await page.reload();
  await expect(page.getByTestId('price')).toHaveValue('0.25');
  await expect(page.getByTestId('tags')).toHaveValue('fast-ssd, gpu');
  await screenshot(page, 'worker-settings');
});
