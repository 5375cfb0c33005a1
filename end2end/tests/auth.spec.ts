// Signing in with a Petra wallet through the real UI, staying signed in, managing the account, signing out.
import { test, expect } from '@playwright/test';
import { collectErrors, screenshot, waitForHydration } from './support';
import { installSignInWallet, installWallet } from './wallet';

test('private pages send signed-out visitors to sign-in', async ({ page }) => {
  await page.goto('/rendering');
  await expect(page).toHaveURL(/\/signin\?next=%2Frendering$/);
  await expect(page.locator('h1')).toHaveText('Sign in to Pictor');
  await expect(page.getByTestId('software-list')).toContainText('Blender 4.2 LTS');
  await expect(page.getByTestId('signin-google')).toHaveText('Continue with Test IdP');
  await screenshot(page, 'signin');
});

test('sign in through the OpenID Connect provider, then see why a bad answer is refused', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/signin');
  await waitForHydration(page);
  await page.getByTestId('signin-google').click();

  await expect(page.locator('h1')).toHaveText('Test identity provider');
  await page.getByLabel('Name').fill('Grace Hopper');
  await page.getByLabel('Email').fill('grace@example.com');
  await screenshot(page, 'oidc-provider');
  await page.getByRole('button', { name: 'Sign in' }).click();

  await expect(page.locator('h1')).toHaveText('Overview');
  const menu = page.getByTestId('user-menu');
  await expect(menu).toContainText('Grace Hopper');
  await menu.click();
  await expect(page.getByTestId('identities')).toContainText('grace@example.com');

  await page.context().clearCookies();
  await page.goto('/signin?oidc_error=nonce');
  await expect(page.getByTestId('oidc-error')).toContainText('belongs to another sign-in attempt');
  expect(errors).toEqual([]);
});

test('a wallet account links the OpenID Connect provider from the account page', async ({ page }) => {
  await installWallet(page);
  await page.goto('/signin');
  await waitForHydration(page);
  await page.getByTestId('signin-petra').click();
  await expect(page.locator('h1')).toHaveText('Overview');
  await page.goto('/account');
  await waitForHydration(page);
  await page.getByTestId('link-oidc').click();

  await expect(page.locator('h1')).toHaveText('Test identity provider');
  await page.getByLabel('Email').fill('linked@example.com');
  await page.getByRole('button', { name: 'Sign in' }).click();

  await expect(page).toHaveURL(/\/account\?linked=oidc$/);
  await expect(page.getByTestId('linked-note')).toContainText('Test IdP account linked');
  await expect(page.getByTestId('identities')).toContainText('linked@example.com');
  await expect(page.getByTestId('identities')).toContainText('Petra wallet');
  await screenshot(page, 'account-linked');
});

test('without a wallet the page says where to get Petra', async ({ page }) => {
  await page.goto('/signin');
  await waitForHydration(page);
  await page.getByTestId('signin-petra').click();
  await expect(page.getByTestId('signin-error')).toContainText('Install Petra from https://petra.app');
});

test('a wallet on the wrong network is refused with a clear message', async ({ page }) => {
  await installWallet(page, { chainId: 2 });
  await page.goto('/signin');
  await waitForHydration(page);
  await page.getByTestId('signin-petra').click();
  await expect(page.getByTestId('signin-error')).toContainText("switch the wallet's network");
  await expect(page).toHaveURL(/\/signin$/);
});

test('a wallet offering Sign in with Aptos signs in in one step', async ({ page }) => {
  const errors = collectErrors(page);
  const wallet = await installSignInWallet(page);
  await page.goto('/signin');
  await waitForHydration(page);
  await page.getByTestId('signin-petra').click();
  await expect(page.locator('h1')).toHaveText('Overview');
  await expect(page.getByTestId('user-menu')).toContainText(wallet.address.slice(0, 6));
  await page.reload();
  await expect(page.getByTestId('user-menu')).toBeVisible();
  expect(errors).toEqual([]);
});

test('Sign in with Aptos from a wallet on another network is refused', async ({ page }) => {
  await installSignInWallet(page, { network: 'aptos:testnet' });
  await page.goto('/signin');
  await waitForHydration(page);
  await page.getByTestId('signin-petra').click();
  await expect(page.getByTestId('signin-error')).toContainText("switch the wallet's network");
  await expect(page).toHaveURL(/\/signin$/);
});

test('sign in with Petra, reload, manage the account, sign out', async ({ page }) => {
  const errors = collectErrors(page);
  const wallet = await installWallet(page);
  await page.goto('/signin');
  await waitForHydration(page);
  await page.getByTestId('signin-petra').click();

  await expect(page.locator('h1')).toHaveText('Overview');
  const menu = page.getByTestId('user-menu');
  await expect(menu).toContainText(wallet.address.slice(0, 6));

  await page.reload();
  await expect(page.locator('h1')).toHaveText('Overview');
  await expect(menu).toBeVisible();

  await menu.click();
  await expect(page.locator('h1')).toHaveText('Account');
  await waitForHydration(page);
  await expect(page.getByTestId('identities')).toContainText(wallet.address);

  await page.getByTestId('display-name').fill('Ada Lovelace');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('account-initials')).toHaveText('AL');
  await page.reload();
  await expect(menu).toContainText('Ada Lovelace');
  await waitForHydration(page);

  await page.getByTestId('api-key-name').fill('laptop CLI');
  await page.getByTestId('create-api-key').click();
  const secret = await page.getByTestId('new-api-key').textContent();
  expect(secret).toMatch(/^pk_/);
  const me = await page.request.get('/api/v1/me', { headers: { Authorization: `Bearer ${secret}` } });
  expect((await me.json()).display_name).toBe('Ada Lovelace');
  await expect(page.getByTestId('api-key-row')).toContainText('laptop CLI');

  // AI limits on the key: a bad number is refused with its field named; good ones are kept.
  const limits = page.getByTestId('api-key-limits');
  await limits.getByTestId('limit-rpm').fill('0');
  await limits.getByTestId('save-limits').click();
  await expect(page.getByTestId('limits-error')).toContainText('requests per minute');
  await limits.getByTestId('limit-rpm').fill('30');
  await limits.getByTestId('limit-budget').fill('2.5');
  await limits.getByTestId('save-limits').click();
  await expect(page.getByTestId('limits-error')).toHaveText('');
  await page.reload();
  await waitForHydration(page);
  await expect(page.getByTestId('limit-rpm')).toHaveValue('30');
  await expect(page.getByTestId('limit-budget')).toHaveValue('2.5');
  await expect(page.getByTestId('limit-tpm')).toHaveValue('');
  await screenshot(page, 'account');

  await page.getByTestId('api-key-row').getByRole('button', { name: 'Revoke' }).click();
  await expect(page.getByTestId('api-key-row')).toContainText('revoked');
  const revoked = await page.request.get('/api/v1/me', { headers: { Authorization: `Bearer ${secret}` } });
  expect(revoked.status()).toBe(401);

  await page.getByTestId('sign-out').click();
  await expect(page).toHaveURL(/\/signin$/);
  await page.goto('/');
  await expect(page).toHaveURL(/\/signin\?next=/);
  // The refused limit's 400 is the browser's only complaint.
  expect(errors.filter((error) => !error.includes('status of 400 (Bad Request)'))).toEqual([]);
});
