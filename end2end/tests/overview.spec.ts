// The Overview is the signed-in person's dashboard across roles: empty states say how each role starts, and the
// figures follow the event stream — a worker coming online, a job submitted and rendered by a real agent — without
// a reload.
import { test, expect } from '@playwright/test';
import { existsSync } from 'node:fs';
import { collectErrors, sampleScene, screenshot, signIn, startAgent, taggedWorkerConfig, waitForHydration } from './support';

test('the Overview shows my roles, starts empty, and follows a worker and a job live', async ({ page, baseURL }) => {
  test.skip(!existsSync(sampleScene), 'run scripts/setup to make samples/spinning-cube.blend');
  test.setTimeout(180_000);
  const errors = collectErrors(page);
  await signIn(page);

  // A newcomer: every role says how to start; the welcome credit is there to spend.
  const yours = page.getByTestId('overview-yours');
  await expect(yours).toBeVisible();
  await expect(page.getByTestId('overview-jobs-empty')).toContainText('Submit a Blender scene');
  await expect(page.getByTestId('overview-workers-empty')).toContainText('add a worker');
  await expect(page.getByTestId('overview-checkers-empty')).toContainText('add a checker');
  await expect(page.getByTestId('overview-ai-empty')).toContainText('Playground');
  await expect(page.getByTestId('overview-credit-available')).not.toHaveText('0');
  await expect(page.getByTestId('network-panel')).toBeVisible();
  await screenshot(page, 'overview-newcomer');

  // A worker of ours (tagged: other specs' jobs stay off it) comes online while the Overview is open.
  const { config } = await taggedWorkerConfig(page.request, baseURL!, 'overview-box', 'overview-live');
  let agent = startAgent('worker', config);
  try {
    await expect(page.getByTestId('overview-workers-online'), agent.log()).toHaveText('1 of 1 online', { timeout: 60_000 });
  } finally {
    await agent.stop();
  }
  // It signs off: the Overview follows.
  await expect(page.getByTestId('overview-workers-online')).toHaveText('0 of 1 online', { timeout: 30_000 });

  // A job submitted on the Rendering page waits in flight on the Overview (no worker of its tag is online)...
  await page.goto('/rendering');
  await waitForHydration(page);
  await page.getByTestId('job-file').setInputFiles(sampleScene);
  await page.getByTestId('job-name').fill('Overview cube');
  await page.getByTestId('job-frames').fill('1-2');
  await page.getByTestId('job-resolution_x').fill('96');
  await page.getByTestId('job-resolution_y').fill('54');
  await page.getByTestId('job-tags').fill('overview-live');
  await page.getByTestId('submit-job').click();
  await expect(page.getByTestId('job-row').filter({ hasText: 'Overview cube' })).toHaveCount(1);
  await page.goto('/');
  await waitForHydration(page);
  await expect(page.getByTestId('overview-jobs-count')).toHaveText('1');
  const job = page.getByTestId('overview-job').filter({ hasText: 'Overview cube' });
  await expect(job.getByTestId('overview-job-progress')).toHaveText(/^0 of 2 · (queued|active)$/);
  await screenshot(page, 'overview-job-in-flight');

  // ...and when the worker comes back and renders it, the Overview follows without a reload.
  agent = startAgent('worker', config);
  try {
    await expect(page.getByTestId('overview-workers-online'), agent.log()).toHaveText('1 of 1 online', { timeout: 60_000 });
    await expect(page.getByTestId('overview-jobs-count'), agent.log()).toHaveText('0', { timeout: 120_000 });
    await expect(page.getByTestId('overview-jobs')).toContainText('every job has finished');
    await expect(page.getByTestId('overview-credit-reserved')).toHaveText('0');
    await screenshot(page, 'overview-after-job');
  } finally {
    await agent.stop();
  }
  expect(errors).toEqual([]);
});
