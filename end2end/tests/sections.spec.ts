// Every section of the dashboard loads, is server-rendered, hydrates, and shows its place in the sidebar.
import { test, expect } from '@playwright/test';
import { collectErrors, screenshot, signIn, waitForHydration } from './support';

test.beforeEach(async ({ page }) => {
  await signIn(page);
});

const SECTIONS = [
  { path: '/', title: 'Overview', shot: 'overview' },
  { path: '/rendering', title: 'Rendering', shot: 'rendering' },
  { path: '/ai', title: 'AI', shot: 'ai' },
  { path: '/workers', title: 'My Workers', shot: 'workers' },
  { path: '/checkers', title: 'Checker Nodes', shot: 'checkers' },
  { path: '/rewards', title: 'Rewards', shot: 'rewards' },
  { path: '/credit', title: 'Credit', shot: 'credit' },
];

for (const section of SECTIONS) {
  test(`${section.title} page loads and hydrates`, async ({ page }) => {
    // Server-side rendering: the heading is in the HTML before any script runs.
    const html = await (await page.request.get(section.path)).text();
    // (Hydration markers such as `<!>` may sit inside the heading.)
    expect(html).toMatch(new RegExp(`<h1>${section.title}(<!>)?</h1>`));

    const errors = collectErrors(page);
    const response = await page.goto(section.path);
    expect(response?.status()).toBe(200);
    await expect(page.locator('h1')).toHaveText(section.title);
    await expect(page).toHaveTitle(`${section.title} · Pictor`);
    await expect(page.locator('.nav-list a[aria-current="page"]')).toHaveText(new RegExp(section.title));
    await waitForHydration(page);
    await screenshot(page, section.shot);
    expect(errors).toEqual([]);
  });
}

test('an unknown path answers 404 with a way back', async ({ page }) => {
  const response = await page.goto('/no/such/page');
  expect(response?.status()).toBe(404);
  await expect(page.locator('h1')).toHaveText('Page not found');
  await page.getByRole('link', { name: 'Back to the dashboard' }).click();
  await expect(page.locator('h1')).toHaveText('Overview');
});
