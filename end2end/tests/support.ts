// Helpers shared by the end-to-end specs: hydration wait, error capture, screenshots, sign-in, real agents.
import { APIRequestContext, expect, Page } from '@playwright/test';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { installWallet, TestWallet } from './wallet';

export const SCREENSHOTS = join(__dirname, '..', 'screenshots');
mkdirSync(SCREENSHOTS, { recursive: true });

/** Waits until the WASM bundle has hydrated the server-rendered page. */
export async function waitForHydration(page: Page) {
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
}

/** Collects uncaught page errors and console errors, to assert none happened. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  return errors;
}

export async function screenshot(page: Page, name: string) {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Signs in through the real sign-in page with a fresh test wallet; ends on the Overview page. */
export async function signIn(page: Page): Promise<TestWallet> {
  const wallet = await installWallet(page);
  await page.goto('/signin');
  await waitForHydration(page);
  await page.getByTestId('signin-petra').click();
  await expect(page.locator('h1')).toHaveText('Overview');
  await waitForHydration(page);
  return wallet;
}

export const sampleScene = resolve(__dirname, '../../samples/spinning-cube.blend');
const agentBin = process.env.E2E_AGENT_BIN ?? resolve(__dirname, '../../target/debug/pictor-agent');

/** A real `pictor-agent` process and everything it printed so far. */
export interface RunningAgent {
  process: ChildProcess;
  log: () => string;
  /** Ctrl-C, as a person would: the agent signs off (a checker gives back its checks); killed if it lingers. */
  stop: () => Promise<void>;
}

/** Starts `pictor-agent <mode> --config <config>` (benchmark skipped unless `args` says otherwise). */
export function startAgent(mode: 'worker' | 'checker', config: string, args: string[] = ['--no-benchmark']): RunningAgent {
  let output = '';
  const child = spawn(agentBin, [mode, '--config', config, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGINT');
    const lingering = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(lingering);
  };
  return { process: child, log: () => output, stop };
}

/**
 * Creates a worker of the signed-in user through the API, tagged `tag` (tests run side by side on one coordinator
 * and any worker may take any job: a job that targets the tag stays on this worker), and writes its config file with
 * a fresh work directory. Returns the config file's path and the worker's id.
 */
export async function taggedWorkerConfig(request: APIRequestContext, origin: string, name: string, tag: string) {
  const created = await request.post('/api/v1/workers', { data: { name }, headers: { Origin: origin } });
  expect(created.status()).toBe(201);
  const issued = await created.json();
  const details = await (await request.get(`/api/v1/workers/${issued.node_id}`)).json();
  const settings = { ...details.summary.settings, tags: [tag] };
  const put = await request.put(`/api/v1/workers/${issued.node_id}/settings`, { data: settings, headers: { Origin: origin } });
  expect(put.status()).toBe(204);
  const dir = mkdtempSync(join(tmpdir(), `pictor-${tag}-`));
  const config = join(dir, 'worker.toml');
  writeFileSync(config, `${issued.config_toml}work_dir = ${JSON.stringify(join(dir, 'work'))}\n`);
  return { config, nodeId: issued.node_id as number };
}
