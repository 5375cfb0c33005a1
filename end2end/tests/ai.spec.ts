// The AI page with a real agent serving the real SmolLM2 model: the catalogue shows it warm, the Playground's answer
// grows token by token, and the usage figures and chart move after the request without a reload; a batch file runs
// on the page with live progress and its output downloads.
import { test, expect, type Page } from '@playwright/test';
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectErrors, screenshot, signIn, startAgent, waitForHydration } from './support';

/** Creates a worker on the My Workers page and returns its downloaded config file, serving `model` if one is named. */
async function servingWorkerConfig(page: Page, name: string, model?: string): Promise<string> {
  await page.goto('/workers');
  await waitForHydration(page);
  await page.getByTestId('worker-name').fill(name);
  await page.getByTestId('create-worker-button').click();
  await expect(page.getByTestId('config-text')).toContainText('token = "pn_');
  const download = page.waitForEvent('download');
  await page.getByTestId('download-config').click();
  const config = join(mkdtempSync(join(tmpdir(), 'pictor-agent-')), 'worker.toml');
  await (await download).saveAs(config);
  if (model) appendFileSync(config, `serve_models = ["${model}"]\n`);
  return config;
}

/** Signs in and starts a worker on the AI link (it serves the embedding model), so that Deploy can place a trained
 * model on it. */
async function trainer(page: Page) {
  await signIn(page);
  return startAgent('worker', await servingWorkerConfig(page, 'trainer', 'all-minilm-l6-v2'));
}

/** scikit-learn's digits, where set-up unpacked them. */
function digitsCsv(): Buffer {
  return readFileSync(join(process.env.PICTOR_MODELS ?? join(homedir(), '.cache/pictor/models'), 'datasets/digits.csv'));
}

test('the Playground streams an answer from a real worker and the usage chart follows live', async ({ page }) => {
  test.setTimeout(180_000);
  const errors = collectErrors(page);
  await signIn(page);

  // A worker of this account that serves the chat model.
  const { log, stop } = startAgent('worker', await servingWorkerConfig(page, 'ai-box', 'smollm2-135m-instruct'));
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
    await expect(page.getByTestId('ai-by-key')).toContainText('Playground (dashboard)');
    await screenshot(page, 'ai-page');
  } finally {
    await stop();
  }
  expect(errors).toEqual([]);
});

test('a model uploaded on the page is checked, deployed, loaded by a worker live and answers in the Playground', async ({ page }) => {
  test.setTimeout(180_000);
  const errors = collectErrors(page);
  await signIn(page);

  // A worker that serves the embedding model only: the chat model reaches it by deployment.
  const { log, stop } = startAgent('worker', await servingWorkerConfig(page, 'host-box', 'all-minilm-l6-v2'));
  const models = process.env.PICTOR_MODELS ?? join(homedir(), '.cache/pictor/models');
  const gguf = join(models, 'smollm2-135m-instruct', 'SmolLM2-135M-Instruct.Q4_1.gguf');
  try {
    await page.goto('/ai');
    await waitForHydration(page);
    await expect(page.getByTestId('hosted-empty')).toBeVisible();

    // A file that is no model is refused with the reason, and nothing is added.
    await page.getByTestId('upload-name').fill('my-smol');
    await page.getByTestId('upload-file-model.gguf').setInputFiles({
      name: 'model.gguf',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from('this is not a model'),
    });
    await page.getByTestId('upload-send').click();
    await expect(page.getByTestId('upload-error')).toContainText('not GGUF', { timeout: 30_000 });
    await expect(page.getByTestId('hosted-empty')).toBeVisible();

    // The real GGUF: uploaded with progress, checked, listed.
    await page.getByTestId('upload-file-model.gguf').setInputFiles(gguf);
    await page.getByTestId('upload-send').click();
    await expect(page.getByTestId('upload-progress')).toBeVisible();
    await screenshot(page, 'ai-model-uploading');
    await expect(page.getByTestId('upload-done')).toContainText('my-smol was checked and added', { timeout: 60_000 });
    const row = page.locator('[data-testid="hosted-row"][data-model="my-smol"]');
    await expect(row.getByTestId('hosted-deployment')).toContainText('not deployed');
    await expect(row.getByTestId('hosted-warm-on')).toHaveText('—');

    // Deployed with one warm worker: the worker fetches and loads it, and the page shows it without a reload.
    const form = page.getByTestId('deploy-form').first();
    await form.locator('summary').click();
    await form.getByTestId('deploy-min-warm').fill('1');
    await form.getByTestId('deploy-save').click();
    await expect(row.getByTestId('hosted-deployment')).toContainText('1–1 workers', { timeout: 15_000 });
    await expect(row.getByTestId('hosted-warm-on')).toHaveText('host-box', { timeout: 60_000 });
    await screenshot(page, 'ai-hosted-models');

    // The Playground answers with it.
    await page.reload();
    await waitForHydration(page);
    await page.getByTestId('playground-model').selectOption('my-smol');
    await page.getByTestId('playground-temperature').fill('0');
    await page.getByTestId('playground-max-tokens').fill('12');
    await page.getByTestId('playground-prompt').fill('What is the capital of France?');
    await page.getByTestId('playground-send').click();
    await expect(page.getByTestId('playground-stats')).toContainText('12 tokens', { timeout: 60_000 });
    expect((await page.getByTestId('playground-answer').textContent())?.trim().length ?? 0).toBeGreaterThan(5);
  } catch (error) {
    console.log(log());
    throw error;
  } finally {
    await stop();
  }
  // The refused upload's 400 is the browser's only complaint.
  expect(errors.filter((error) => !error.includes('status of 400 (Bad Request)'))).toEqual([]);
});

test('a batch file run on the page shows its progress live and its output downloads', async ({ page }) => {
  test.setTimeout(180_000);
  const errors = collectErrors(page);
  await signIn(page);
  const { log, stop } = startAgent('worker', await servingWorkerConfig(page, 'batch-box', 'all-minilm-l6-v2'));
  const line = (id: string, input: string) =>
    JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/embeddings', body: { model: 'all-minilm-l6-v2', input } });
  try {
    await page.goto('/ai');
    await waitForHydration(page);
    await expect(page.getByTestId('batches-empty')).toBeVisible();

    // A line no request may be is refused with its number, and no batch appears.
    const bad = [line('a', 'fine'), JSON.stringify({ custom_id: 'b', method: 'POST', url: '/v1/embeddings', body: { model: 'all-minilm-l6-v2', input: '' } })];
    await page.getByTestId('batch-file').setInputFiles({ name: 'bad.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(bad.join('\n')) });
    await page.getByTestId('batch-send').click();
    await expect(page.getByTestId('batch-error')).toContainText('line 2');
    await expect(page.getByTestId('batches-empty')).toBeVisible();

    // 240 lines in chunks of 50: the row's count climbs while the worker answers, then the output downloads.
    const lines = Array.from({ length: 240 }, (_, i) => line(`r${i}`, `a sentence about frame ${i} of a render`));
    await page.getByTestId('batch-file').setInputFiles({ name: 'requests.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(lines.join('\n')) });
    await page.getByTestId('batch-send').click();
    const row = page.getByTestId('batch-row').first();
    await expect(row.getByTestId('batch-progress')).toContainText('of 240 answered', { timeout: 15_000 });
    await expect(row.getByTestId('batch-status')).toHaveText('completed', { timeout: 120_000 });
    await expect(row.getByTestId('batch-progress')).toContainText('240 of 240 answered');
    await screenshot(page, 'ai-batches');
    const download = page.waitForEvent('download');
    await row.getByTestId('batch-output').click();
    const output = await (await download).path();
    const text = readFileSync(output, 'utf8');
    const answered = text.trim().split('\n').map((l) => JSON.parse(l));
    expect(answered.length).toBe(240);
    expect(answered.every((l) => l.response.status_code === 200 && l.response.body.data[0].embedding.length === 384)).toBe(true);
  } catch (error) {
    console.log(log());
    throw error;
  } finally {
    await stop();
  }
  expect(errors.filter((error) => !error.includes('status of 400 (Bad Request)'))).toEqual([]);
});

test('a training run started on the page draws its loss curve live, its weights download, and Deploy makes an endpoint the Playground asks', async ({ page }) => {
  test.setTimeout(180_000);
  const errors = collectErrors(page);
  const { log, stop } = await trainer(page);
  const digits = digitsCsv();
  try {
    await page.goto('/ai');
    await waitForHydration(page);
    await expect(page.getByTestId('trainings-empty')).toBeVisible();

    // A row with a pixel missing is refused with its line number, and no run appears.
    const ragged = Buffer.concat([digits.subarray(0, 2000), Buffer.from('\n1,2,3\n')]);
    await page.getByTestId('training-file').setInputFiles({ name: 'bad.csv', mimeType: 'text/csv', buffer: ragged });
    await page.getByTestId('training-send').click();
    await expect(page.getByTestId('training-error')).toContainText('line');
    await expect(page.getByTestId('trainings-empty')).toBeVisible();

    // scikit-learn's digits: the estimate counts the steps, the run's curve grows while the worker trains.
    await page.getByTestId('training-file').setInputFiles({ name: 'digits.csv', mimeType: 'text/csv', buffer: digits });
    await page.getByTestId('training-epochs').fill('400');
    await page.getByTestId('training-every').fill('600');
    await expect(page.getByTestId('training-estimate')).toContainText('1797 rows → about 18000 steps');
    await page.getByTestId('training-send').click();
    const row = page.getByTestId('training-row').first();
    const chart = page.getByTestId('training-chart');
    const points = async () => Number(await chart.getAttribute('data-points'));
    await expect.poll(points, { timeout: 60_000, message: log() }).toBeGreaterThanOrEqual(2);
    const early = await points();
    await expect(row.getByTestId('training-state')).not.toHaveText('completed');
    await screenshot(page, 'ai-training-live');
    await expect(row.getByTestId('training-state')).toHaveText('completed', { timeout: 120_000 });
    expect(await points()).toBeGreaterThan(early);
    expect(await points()).toBe(31);
    expect(Number((await row.getByTestId('training-accuracy').textContent())?.replace('%', ''))).toBeGreaterThan(90);
    await screenshot(page, 'ai-training-done');
    const download = page.waitForEvent('download');
    await row.getByTestId('training-model').click();
    const weights = readFileSync(await (await download).path());
    expect(weights.length).toBeGreaterThan(10_000);

    // Deploy in one click: the trained classifier answers in the Playground (a digit's pixels in, its class out).
    await row.getByTestId('training-deploy').click();
    await expect(row.getByTestId('training-deployed')).toContainText('Deployed as digits-');
    const model = (await row.getByTestId('training-deployed').textContent())!.match(/Deployed as (digits-\d+)/)![1];
    await page.reload();
    await waitForHydration(page);
    await expect(page.locator(`[data-testid="ai-model-row"][data-model="${model}"]`)).toContainText('classifier');
    await page.getByTestId('playground-model').selectOption(model);
    const [first] = digits.toString().split('\n');
    const cells = first.split(',');
    await page.getByTestId('playground-prompt').fill(cells.slice(0, 64).join(','));
    await page.getByTestId('playground-send').click();
    await expect(page.getByTestId('playground-answer')).toContainText(`Class ${cells[64]} (`, { timeout: 90_000 });
    await screenshot(page, 'ai-training-deployed');
  } catch (error) {
    console.log(log());
    throw error;
  } finally {
    await stop();
  }
  expect(errors.filter((error) => !error.includes('status of 400 (Bad Request)'))).toEqual([]);
});

test('a text classifier fine-tuned from MiniLM on the page answers a sentence by its class name in the Playground', async ({ page }) => {
  test.setTimeout(180_000);
  const errors = collectErrors(page);
  const { log, stop } = await trainer(page);
  const topics = readFileSync(join(__dirname, '../../samples/datasets/topics.csv'));
  try {
    await page.goto('/ai');
    await waitForHydration(page);
    // Choosing the template fills in settings that suit a transformer layer.
    await page.getByTestId('training-template').selectOption('text_classifier');
    await expect(page.getByTestId('training-epochs')).toHaveValue('4');
    await expect(page.getByTestId('training-lr')).toHaveValue('0.002');
    await page.getByTestId('training-file').setInputFiles({ name: 'topics.csv', mimeType: 'text/csv', buffer: topics });
    await expect(page.getByTestId('training-estimate')).toContainText('120 rows → about 24 steps');
    await page.getByTestId('training-send').click();
    const row = page.getByTestId('training-row').first();
    await expect(row.getByTestId('training-state')).toHaveText('completed', { timeout: 150_000 });
    expect(Number((await row.getByTestId('training-accuracy').textContent())?.replace('%', ''))).toBeGreaterThanOrEqual(80);
    await row.getByTestId('training-deploy').click();
    await expect(row.getByTestId('training-deployed')).toContainText('Deployed as topics-');
    const model = (await row.getByTestId('training-deployed').textContent())!.match(/Deployed as (topics-\d+)/)![1];
    await page.reload();
    await waitForHydration(page);
    await page.getByTestId('playground-model').selectOption(model);
    await page.getByTestId('playground-prompt').fill('Heavy snow and strong winds are expected tonight');
    await page.getByTestId('playground-send').click();
    await expect(page.getByTestId('playground-answer')).toContainText('weather (', { timeout: 90_000 });
    await screenshot(page, 'ai-training-text-deployed');
  } catch (error) {
    console.log(log());
    throw error;
  } finally {
    await stop();
  }
  expect(errors.filter((error) => !error.includes('status of 400 (Bad Request)'))).toEqual([]);
});

test('a cancelled training run resumes from its last checkpoint as a new run with one click', async ({ page }) => {
  test.setTimeout(150_000);
  const errors = collectErrors(page);
  const { log, stop } = await trainer(page);
  const digits = digitsCsv();
  try {
    await page.goto('/ai');
    await waitForHydration(page);
    await page.getByTestId('training-file').setInputFiles({ name: 'digits.csv', mimeType: 'text/csv', buffer: digits });
    await page.getByTestId('training-epochs').fill('1000');
    await page.getByTestId('training-every').fill('500');
    await page.getByTestId('training-send').click();
    const first = page.locator('[data-testid="training-row"]').first();
    const chart = page.getByTestId('training-chart');
    await expect.poll(async () => Number(await chart.getAttribute('data-points')), { timeout: 60_000, message: log() }).toBeGreaterThanOrEqual(3);
    await first.getByTestId('training-cancel').click();
    await expect(first.getByTestId('training-state')).toHaveText('cancelled', { timeout: 30_000 });
    const stoppedAt = await first.getByTestId('training-checkpoint').textContent();

    // Resume: a second run appears, starting at the cancelled run's last checkpoint, and trains on.
    await first.getByTestId('training-resume').click();
    await expect(page.getByTestId('training-row')).toHaveCount(2, { timeout: 15_000 });
    const resumed = page.getByTestId('training-row').first();
    const start = Number(stoppedAt!.replace('step ', ''));
    const runs = await (await page.request.get('/api/ai/trainings')).json();
    expect(runs.data[0].checkpoints[0]).toMatchObject({ step: start, attempt: 0 });
    const steps = async () => Number(((await resumed.getByTestId('training-progress').textContent()) ?? '').trim().split(' ')[0]);
    await expect.poll(steps, { timeout: 60_000, message: log() }).toBeGreaterThan(start);
    await screenshot(page, 'ai-training-resumed');
    await resumed.getByTestId('training-cancel').click();
    await expect(resumed.getByTestId('training-state')).toHaveText('cancelled', { timeout: 30_000 });
  } catch (error) {
    console.log(log());
    throw error;
  } finally {
    await stop();
  }
  expect(errors).toEqual([]);
});
