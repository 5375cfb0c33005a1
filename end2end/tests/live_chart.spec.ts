// The Network panel's chart is fed over server-sent events and redrawn in place.
import { test, expect, Page } from '@playwright/test';
import { collectErrors, screenshot, signIn, waitForHydration } from './support';

test.beforeEach(async ({ page }) => {
  await signIn(page);
});

async function updateCount(page: Page): Promise<number> {
  return Number(await page.getByTestId('sse-updates').getAttribute('data-updates'));
}

/** Number of samples on the chart's x axis, read back from ECharts itself. */
async function chartPoints(page: Page): Promise<number> {
  return page.evaluate(() => {
    const element = document.getElementById('network-chart');
    const chart = (window as any).echarts?.getInstanceByDom(element);
    return chart ? chart.getOption().xAxis[0].data.length : 0;
  });
}

test('network chart receives live updates without a reload', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/');
  // The first render is the server's: figures are there before any script runs.
  await expect(page.getByTestId('kpi-workers')).toHaveText('0');
  await waitForHydration(page);
  await page.evaluate(() => ((window as any).__sameDocument = true));

  await expect.poll(() => updateCount(page), { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
  await expect(page.locator('#network-chart canvas')).toHaveCount(1);
  const pointsBefore = await chartPoints(page);
  expect(pointsBefore).toBeGreaterThanOrEqual(2);
  // More samples keep arriving and the same chart grows.
  await expect.poll(() => chartPoints(page), { timeout: 20_000 }).toBeGreaterThan(pointsBefore);
  await expect(page.getByTestId('sse-updates')).toContainText('live ·');
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
  await screenshot(page, 'overview-live-dark');

  await page.getByTestId('theme-toggle').click();
  await expect.poll(() => updateCount(page)).toBeGreaterThan(await updateCount(page));
  await screenshot(page, 'overview-live-light');
  expect(errors).toEqual([]);
});

test('the event stream speaks SSE', async ({ request, baseURL }) => {
  // A raw look at the wire format, with a short-lived request.
  const controller = new AbortController();
  const response = await fetch(`${baseURL}/api/v1/events`, { signal: controller.signal });
  expect(response.headers.get('content-type')).toContain('text/event-stream');
  const reader = response.body!.getReader();
  let text = '';
  while (!text.includes('event: network')) {
    const { value } = await reader.read();
    text += new TextDecoder().decode(value);
  }
  controller.abort();
  expect(text).toMatch(/event: network\ndata: \{"type":"network","data":\{"at_ms":\d+/);
  expect((await request.get('/healthz')).ok()).toBeTruthy();
});
