// The whole loop in the browser: submit the sample scene, start a real `pictor-agent` for one of our workers, and
// watch its frames render — task cells turn done and show thumbnails without a reload; open a frame, read a task's
// attempts and log, download the zip, then render one again.
import { test, expect } from '@playwright/test';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { collectErrors, sampleScene, screenshot, signIn, startAgent, taggedWorkerConfig, waitForHydration } from './support';


test('submit the sample scene, a real agent renders it, frames appear live', async ({ page, baseURL }) => {
  test.skip(!existsSync(sampleScene), 'run scripts/setup to make samples/spinning-cube.blend');
  test.setTimeout(180_000);
  const errors = collectErrors(page);
  await signIn(page);

  // A worker of ours, created through the API with this browser's session; the job targets its tag.
  const { config } = await taggedWorkerConfig(page.request, baseURL!, 'render-box', 'render-live');

  await page.goto('/rendering');
  await waitForHydration(page);
  await page.getByTestId('job-file').setInputFiles(sampleScene);
  await page.getByTestId('job-name').fill('Live cube');
  await page.getByTestId('job-frames').fill('1-4');
  await page.getByTestId('job-resolution_x').fill('160');
  await page.getByTestId('job-resolution_y').fill('90');
  await page.getByTestId('job-tags').fill('render-live');
  await page.getByTestId('submit-job').click();
  await page.getByTestId('job-row').filter({ hasText: 'Live cube' }).getByRole('link', { name: 'Live cube' }).click();
  await expect(page.getByTestId('task-cell')).toHaveCount(4);
  await waitForHydration(page);

  const agent = startAgent('worker', config);
  try {
    const cells = page.getByTestId('task-cell');
    for (let index = 0; index < 4; index++) {
      await expect(cells.nth(index), agent.log()).toHaveAttribute('data-state', 'uploaded', { timeout: 120_000 });
    }
    await expect(page.getByTestId('job-progress')).toHaveText('4 of 4 done');
    await expect(page.getByTestId('job-state')).toHaveText('completed');
    const thumbnail = cells.first().locator('img.thumbnail');
    await expect.poll(() => thumbnail.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(160);
    await screenshot(page, 'job-rendered');

    // A thumbnail opens its full frame.
    const opened = page.waitForEvent('popup');
    await cells.first().getByTestId('thumbnail-link').click();
    const frame = await opened;
    expect(frame.url()).toMatch(/\/api\/v1\/jobs\/\d+\/frames\/1$/);
    await frame.close();

    // Each task keeps who rendered it, when, and Blender's log.
    await cells.first().getByTestId('show-attempts').click();
    const attempt = page.getByTestId('attempt');
    await expect(attempt).toHaveCount(1);
    await expect(attempt).toHaveAttribute('data-outcome', 'uploaded');
    await expect(attempt).toContainText('render-box');
    await expect(page.getByTestId('attempt-log')).toContainText('Fra:1');
    await screenshot(page, 'job-attempts');

    const zip = page.waitForEvent('download');
    await page.getByTestId('download-zip').click();
    const archive = await zip;
    expect(archive.suggestedFilename()).toMatch(/^job-\d+-outputs\.zip$/);
    expect((await readFile((await archive.path())!)).subarray(0, 2).toString()).toBe('PK');

    await cells.nth(1).getByTestId('rerender-task').click();
    await expect(cells.nth(1)).toHaveAttribute('data-state', 'uploaded', { timeout: 60_000 });
    await expect(page.getByTestId('job-progress')).toHaveText('4 of 4 done');

    // No checker of this test ran: the page says how many results were accepted unchecked, and why (a checker
    // started by another test beside this one may have verified some).
    await page.reload();
    await waitForHydration(page);
    const unchecked = await page.locator('[data-testid="task-cell"][data-state="uploaded"]').count();
    if (unchecked > 0) {
      const results = unchecked === 1 ? '1 result' : `${unchecked} results`;
      await expect(page.getByTestId('job-checks')).toHaveText(`${results} accepted unchecked: no checker was online to verify them.`);
    }
    await screenshot(page, 'job-unchecked');
  } finally {
    await agent.stop();
  }
  expect(errors).toEqual([]);
});
