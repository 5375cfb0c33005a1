// Checker Nodes with real agents: create a checker in the UI, run `pictor-agent checker` with its config, watch it
// come online; another account's worker renders a job, and the checker's verdict count rises without a reload.
import { test, expect } from '@playwright/test';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectErrors, RunningAgent, sampleScene, screenshot, signIn, startAgent, waitForHydration } from './support';

test('a checker node goes online and its verdicts rise live as another account renders', async ({ page, browser, baseURL }) => {
  test.skip(!existsSync(sampleScene), 'run scripts/setup to make samples/spinning-cube.blend');
  test.setTimeout(180_000);
  const errors = collectErrors(page);
  await signIn(page);
  await page.goto('/checkers');
  await waitForHydration(page);
  await expect(page.getByTestId('no-checkers')).toBeVisible();

  await page.getByTestId('checker-name').fill('e2e-verifier');
  await page.getByTestId('create-checker-button').click();
  await expect(page.getByTestId('config-text')).toContainText('pictor-agent checker --config checker.toml');
  const dir = mkdtempSync(join(tmpdir(), 'pictor-checker-'));
  const checkerConfig = join(dir, 'checker.toml');
  const download = page.waitForEvent('download');
  await page.getByTestId('download-config').click();
  await (await download).saveAs(checkerConfig);
  writeFileSync(checkerConfig, `${readFileSync(checkerConfig, 'utf8')}work_dir = ${JSON.stringify(join(dir, 'checker'))}\n`);

  await page.reload();
  await waitForHydration(page);
  const row = page.getByTestId('checker-row').filter({ hasText: 'e2e-verifier' });
  const checker = startAgent('checker', checkerConfig);
  const others: RunningAgent[] = [];
  try {
    await expect(row.locator('.status'), checker.log()).toHaveAttribute('data-status', 'online', { timeout: 60_000 });
    await expect(page.getByTestId('checkers-online')).toHaveText('1');
    await expect(row.getByTestId('checker-verdicts')).toHaveText('0 verdicts');

    // Someone else lends a worker and renders a job: a checker never checks its own owner's workers.
    const context = await browser.newContext();
    const lender = await context.newPage();
    await signIn(lender);
    const headers = { Origin: baseURL! };
    const created = await lender.request.post('/api/v1/workers', { data: { name: 'lender-box' }, headers });
    expect(created.status()).toBe(201);
    const workerConfig = join(dir, 'worker.toml');
    writeFileSync(workerConfig, `${(await created.json()).config_toml}work_dir = ${JSON.stringify(join(dir, 'worker'))}\n`);
    const worker = startAgent('worker', workerConfig);
    others.push(worker);
    const scene = await lender.request.put('/api/v1/scenes', { data: readFileSync(sampleScene), headers });
    expect(scene.status()).toBe(201);
    const form = {
      name: 'checked cube', frames: '1-2', chunk_size: '1', tiles: '', resolution_x: '96', resolution_y: '54',
      resolution_percent: '100', samples: '8', engine: 'Cycles', format: 'PNG', tier: 'Standard', min_vram_gib: '',
      gpu_model: '', tags: '',
    };
    const submitted = await lender.request.post('/api/v1/jobs', { data: { scene_key: (await scene.json()).scene_key, form }, headers });
    expect(submitted.status()).toBe(201);

    // Both frames are checked (an audit now and then may add one more verdict).
    const verdicts = async () => parseInt((await row.getByTestId('checker-verdicts').textContent()) ?? '0', 10);
    await expect.poll(verdicts, { timeout: 120_000, message: `${checker.log()}\n----\n${worker.log()}` }).toBeGreaterThanOrEqual(2);
    await expect.poll(async () => Number(await page.getByTestId('checkers-verdicts').textContent())).toBeGreaterThanOrEqual(2);
    await expect(row).toContainText('100 % agree');
    await screenshot(page, 'checkers-live');
    await context.close();
  } finally {
    await Promise.all([checker, ...others].map((agent) => agent.stop()));
  }
  expect(errors).toEqual([]);
});
