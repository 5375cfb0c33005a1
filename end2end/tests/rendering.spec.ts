// Rendering in the real UI: a bad form is explained before any upload; the sample scene (made by our Blender
// script) is uploaded and submitted; the job page shows a grid of its tasks.
import { test, expect } from '@playwright/test';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { collectErrors, screenshot, signIn, waitForHydration } from './support';

const sampleScene = resolve(__dirname, '../../samples/spinning-cube.blend');

test('submit the sample scene and see its task grid', async ({ page }) => {
  test.skip(!existsSync(sampleScene), 'run scripts/setup to make samples/spinning-cube.blend');
  const errors = collectErrors(page);
  await signIn(page);
  await page.goto('/rendering');
  await waitForHydration(page);
  await expect(page.getByTestId('no-jobs')).toBeVisible();

  await page.getByTestId('job-name').fill('Spinning cube');
  await page.getByTestId('job-frames').fill('5-1');
  await page.getByTestId('submit-job').click();
  await expect(page.getByTestId('job-error')).toContainText('frames');

  await page.getByTestId('job-frames').fill('1-10');
  await page.getByTestId('submit-job').click();
  await expect(page.getByTestId('job-error')).toContainText('choose a .blend file first');

  await page.getByTestId('job-file').setInputFiles(sampleScene);
  await page.getByTestId('job-chunk_size').fill('2');
  // Targeted at a tag no worker has, so agents started by other tests leave it queued.
  await page.getByTestId('job-tags').fill('no-such-worker');
  await page.getByTestId('submit-job').click();
  const row = page.getByTestId('job-row').filter({ hasText: 'Spinning cube' });
  await expect(row).toContainText('0/5 tasks');
  await screenshot(page, 'rendering-jobs');

  await row.getByRole('link', { name: 'Spinning cube' }).click();
  await expect(page.getByTestId('job-title')).toHaveText('Spinning cube');
  await expect(page.getByTestId('task-cell')).toHaveCount(5);
  await expect(page.getByTestId('task-cell').first()).toHaveAttribute('data-state', 'queued');
  await expect(page.getByTestId('task-cell').first()).toContainText('Frames 1–2');
  await waitForHydration(page);
  await screenshot(page, 'job-page');

  await page.getByTestId('cancel-job').click();
  await expect(page.getByTestId('job-state')).toHaveText('cancelled');
  await expect(page.getByTestId('task-cell').first()).toHaveAttribute('data-state', 'cancelled');
  expect(errors).toEqual([]);
});
