// Playwright drives Debian's Chromium (never a downloaded browser) against a freshly started coordinator.
import { defineConfig } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '..');
const port = Number(process.env.E2E_PORT ?? 3100);
const idpPort = Number(process.env.E2E_IDP_PORT ?? port + 99);
const dataDir = mkdtempSync(join(tmpdir(), 'pictor-e2e-'));

export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  timeout: 60_000,
  expect: { timeout: 15_000 },
  fullyParallel: true,
  workers: 2,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    colorScheme: 'dark',
    // Screenshots show settled layouts, not drawers halfway through sliding in.
    reducedMotion: 'reduce',
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  webServer: [
    {
      // A real OpenID Connect provider of our own (discovery, JWKS, sign-in form, token endpoint).
      command: `${process.env.E2E_IDP_BIN ?? join(root, 'target/debug/pictor-test-idp')} --listen 127.0.0.1:${idpPort}`,
      url: `http://127.0.0.1:${idpPort}/jwks`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: 'pipe',
      stderr: 'pipe',
    },
    {
      command: process.env.E2E_SERVER_BIN ?? join(root, 'target/debug/pictor'),
      url: `http://127.0.0.1:${port}/healthz`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: 'pipe',
      stderr: 'pipe',
      env: {
        PICTOR_LISTEN: `127.0.0.1:${port}`,
        PICTOR_DATA_DIR: dataDir,
        PICTOR_SITE_ROOT: process.env.E2E_SITE_ROOT ?? join(root, 'target/site'),
        PICTOR_STATS_INTERVAL_MS: '500',
        // Agents heartbeat every second, so "offline" shows within seconds.
        PICTOR_HEARTBEAT_INTERVAL_MS: '1000',
        // Tests share one coordinator: once a test's checker has stopped, others' results wait seconds, not
        // the default half hour, for a checker that is not coming.
        PICTOR_VERIFICATION__UNCHECKED_AFTER_MS: '5000',
        // The payment provider's signing secret: the money test buys credit through the signed webhook.
        PICTOR_LEDGER__PAYMENT_WEBHOOK_SECRET: 'e2e payment provider secret',
        PICTOR_OIDC__PROVIDER_NAME: 'Test IdP',
        PICTOR_OIDC__ISSUER_URL: `http://127.0.0.1:${idpPort}`,
        PICTOR_OIDC__CLIENT_ID: 'pictor-test',
        PICTOR_OIDC__CLIENT_SECRET: 'pictor-test-secret',
      },
    },
  ],
});
