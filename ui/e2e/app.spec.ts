// End to end against the built UI: signed out → sign in → account → models → usage → settings.
import { expect, test, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const fakeBackend = join(here, 'fake-backend.js');
const docsShots = join(here, '..', '..', 'docs', 'screenshots');
const artifactShots = join(here, '..', 'test-results', 'screenshots');
mkdirSync(docsShots, { recursive: true });
mkdirSync(artifactShots, { recursive: true });

// A fixed clock so the fake data, the "fetched HH:MM" labels and the screenshots are stable.
const NOW = new Date('2026-11-20T14:30:00Z');

async function open(page: Page, options: Record<string, unknown> = {}) {
  await page.clock.setFixedTime(NOW);
  await page.addInitScript((o) => {
    (window as unknown as { __FAKE_BACKEND__: unknown }).__FAKE_BACKEND__ = o;
  }, options);
  await page.addInitScript({ path: fakeBackend });
  await page.goto('/');
}

async function shot(page: Page, name: string) {
  // Park the mouse so no hover state or chart cursor lands in the picture.
  await page.mouse.move(0, 0);
  for (const dir of [docsShots, artifactShots]) {
    await page.screenshot({ path: join(dir, `${name}.png`), animations: 'disabled' });
  }
}

async function calls(page: Page): Promise<{ cmd: string; args: Record<string, unknown> }[]> {
  return page.evaluate(() => (window as unknown as { __fake: { calls: never[] } }).__fake.calls);
}

test('sign in, pick a model, see usage, copy the OpenCode config', async ({ page }) => {
  const consoleErrors: string[] = [];
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  await open(page, { signedIn: false, signInDelayMs: -1 }); // approve by hand below

  // --- Sign in ---
  await expect(page.getByRole('heading', { name: 'Account' })).toBeVisible();
  await expect(page.getByText('Not signed in')).toBeVisible();
  await shot(page, 'signin');
  await page.getByRole('button', { name: 'Sign in with Cursor' }).click();
  await expect(page.getByText('Approve the sign-in in your browser…')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Cancel' })).toBeVisible();
  await shot(page, 'signin-waiting');
  await page.evaluate(() => (window as unknown as { __fake: { approveSignIn(): void } }).__fake.approveSignIn());
  await expect(page.getByTestId('account-email')).toHaveText('ada@example.com');
  await expect(page.getByTestId('account-plan')).toHaveText('Pro');
  await expect(page.getByTestId('account-client-version')).toHaveText('cli-2026.07.23-e383d2b (newest installed Cursor CLI)');
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
  await shot(page, 'account');

  // --- Proxy from the status bar ---
  await page.getByRole('banner').getByRole('button', { name: 'Start' }).click();
  await expect(page.getByText('Proxy running')).toBeVisible();
  await expect(page.getByRole('banner').getByText('http://127.0.0.1:18741/v1')).toBeVisible();

  // --- Models ---
  await page.getByRole('button', { name: 'Models' }).click();
  await expect(page.getByText('8 of 8 models')).toBeVisible();
  await expect(page.locator('[data-model="gemini-2.5-pro"]')).toContainText('1M context');
  await expect(page.locator('[data-model="claude-4.5-sonnet"]')).toContainText('200K context');
  await page.getByLabel('Filter models').fill('gpt');
  await expect(page.getByText('2 of 8 models')).toBeVisible();
  await expect(page.locator('[data-model="claude-4.5-sonnet"]')).toHaveCount(0);
  await expect(page.locator('[data-model="gpt-5"]').getByText('reasoning')).toBeVisible();
  await page.getByRole('radio', { name: /GPT-5 Codex/ }).check();
  await expect(page.getByText('Default model set to gpt-5-codex.')).toBeVisible();
  const update = (await calls(page)).filter((c) => c.cmd === 'update_settings').at(-1);
  expect(update?.args).toEqual({
    settings: {
      host: '127.0.0.1',
      port: 18741,
      defaultModel: 'gpt-5-codex',
      startProxyOnLaunch: true,
      requireApiKey: true,
      agentTransport: 'http2',
      guardEnabled: true,
      guardRepeatLimit: 5,
      guardMaxToolSteps: 100,
      guardRequestsPerMinute: 120,
      guardDailyRequests: 0,
      guardDailyTokens: 0,
      guardOnDemand: 'warn',
    },
  });
  await page.getByLabel('Filter models').fill('');
  await expect(page.getByText('8 of 8 models')).toBeVisible();
  await shot(page, 'models');

  // --- Usage ---
  await page.getByRole('button', { name: 'Usage' }).click();
  await expect(page.getByText('Cursor — may lag ~1 min, fetched 14:29')).toBeVisible();
  await expect(page.getByTestId('plan-spent')).toHaveText('$13.47');
  await expect(page.getByTestId('plan-summary')).toHaveText('$13.47 of $20.00 used');
  await expect(page.getByTestId('plan-pool-auto')).toContainText('Auto + Composer');
  await expect(page.getByTestId('plan-pool-auto')).toContainText('41%');
  await expect(page.getByTestId('plan-pool-api')).toContainText('API models');
  await expect(page.getByTestId('plan-pool-api')).toContainText('88.5%');
  await expect(page.locator('#plan')).not.toContainText(/\b0 of 0\b|of \$0\.00/);
  const requests = page.locator('#chart-requests');
  const canvas = requests.locator('canvas');
  await expect(canvas).toHaveCount(1);
  const box = await canvas.boundingBox();
  expect(box && box.width > 200 && box.height > 100).toBeTruthy();
  const legend = requests.locator('.u-legend');
  for (const m of ['claude-4.5-sonnet', 'gpt-5', 'gemini-2.5-pro']) {
    await expect(legend.getByText(m, { exact: true })).toBeVisible();
  }
  await expect(page.locator('#chart-tokens canvas')).toHaveCount(1);
  await expect(page.getByText('tokens estimated')).toBeVisible();
  await expect(page.locator('#latency')).toContainText('820 ms');
  await expect(page.locator('#errors-by-kind')).toContainText('upstream');
  // The chart actually drew something (not a blank canvas).
  const painted = await canvas.evaluate((c: HTMLCanvasElement) => {
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  });
  expect(painted).toBeGreaterThan(1000);
  await shot(page, 'usage');

  // The guard: today's counts against each budget; Pause all, then Resume.
  const guard = page.locator('#guard');
  await expect(guard.getByTestId('guard-state')).toHaveText('On: nothing tripped.');
  await expect(guard.getByTestId('guard-per-minute')).toHaveText('3 of 120');
  await expect(guard.getByTestId('guard-requests')).toHaveText('42 (no limit)');
  await guard.getByRole('button', { name: 'Pause all' }).click();
  await expect(guard.getByTestId('guard-state')).toContainText('Paused by guard');
  expect((await calls(page)).some((c) => c.cmd === 'guard_pause')).toBe(true);
  await guard.getByRole('button', { name: 'Resume' }).click();
  await expect(guard.getByTestId('guard-state')).toHaveText('On: nothing tripped.');
  expect((await calls(page)).some((c) => c.cmd === 'guard_resume')).toBe(true);

  // Split by client, then by dialect: the legend names what is stacked; the table sums
  // the range per client.
  const split = page.getByRole('group', { name: 'Split charts by' });
  await split.getByRole('button', { name: 'Client' }).click();
  await expect(page.getByRole('heading', { name: 'Requests by client' })).toBeVisible();
  for (const c of ['opencode', 'claude-cli', 'codex_exec', '(unknown)']) {
    await expect(legend.getByText(c, { exact: true })).toBeVisible();
  }
  await expect(legend.getByText('gpt-5', { exact: true })).toHaveCount(0);
  const byClient = page.locator('#by-client');
  await expect(byClient.getByRole('row')).toHaveCount(5); // the header and four clients
  await expect(byClient.getByRole('rowheader', { name: 'claude-cli' })).toBeVisible();
  // The tokens chart and the table below it, in the picture.
  await byClient.evaluate((e) => e.scrollIntoView({ block: 'end' }));
  await shot(page, 'usage-by-client');
  await split.getByRole('button', { name: 'Dialect' }).click();
  await expect(page.getByRole('heading', { name: 'Tokens by dialect (estimated)' })).toBeVisible();
  for (const d of ['Chat Completions', 'Anthropic Messages', 'OpenAI Responses']) {
    await expect(legend.getByText(d, { exact: true })).toBeVisible();
  }
  await split.getByRole('button', { name: 'Model' }).click();
  await expect(legend.getByText('gpt-5', { exact: true })).toBeVisible();
  await page.getByRole('button', { name: '7 d' }).click();
  await expect(page.getByRole('button', { name: '7 d' })).toHaveAttribute('aria-pressed', 'true');
  await expect(requests.locator('canvas')).toHaveCount(1);
  expect((await calls(page)).some((c) => c.cmd === 'usage_report' && c.args.range === '7d')).toBe(true);

  // --- Settings: copy the OpenCode config ---
  await page.getByRole('button', { name: 'Settings' }).click();
  const preview = page.getByTestId('snippet-preview');
  await expect(preview).toContainText('"@ai-sdk/openai-compatible"');
  await expect(page.getByTestId('api-key')).toContainText('••••');
  await shot(page, 'settings');
  await expect(preview).not.toContainText('7f3a9c2e51d84b06a9e1f0c4d2b7e8a1'); // key masked
  await page.getByRole('button', { name: 'Copy OpenCode config' }).click();
  await expect(page.getByText('Copied')).toBeVisible();
  const clip = await page.evaluate(() => navigator.clipboard.readText());
  const parsed = JSON.parse(clip);
  expect(parsed.provider['cursor-bridge'].options.apiKey).toBe('cb-local-7f3a9c2e51d84b06a9e1f0c4d2b7e8a1');
  expect(parsed.provider['cursor-bridge'].models['gpt-5'].limit).toEqual({ context: 272000, output: 128000 });
  await page.getByRole('button', { name: 'Add to OpenCode' }).click();
  await expect(page.getByText('/home/ada/.config/opencode/opencode.json', { exact: true })).toBeVisible();
  await expect(page.getByText('The connection to Cursor dropped mid-stream.')).toBeVisible();
  await shot(page, 'settings-opencode');

  // --- Settings: connect your tools — preview Claude Code's change, connect, disconnect ---
  const claude = page.getByRole('group', { name: 'Claude Code' });
  await expect(claude).toContainText('Not connected');
  await claude.getByRole('button', { name: 'Preview changes' }).click();
  await expect(claude.getByLabel("Changes to Claude Code's config")).toContainText('ANTHROPIC_BASE_URL');
  await claude.getByRole('button', { name: 'Connect', exact: true }).click();
  await expect(claude.getByText('/home/ada/.claude/settings.json.bak-20261120-1430')).toBeVisible();
  await expect(claude.getByRole('button', { name: 'Connect again' })).toBeVisible();
  await claude.getByRole('button', { name: 'Disconnect' }).click();
  await expect(claude.getByText(/Restored/)).toBeVisible();
  await expect(claude).toContainText('Not connected');
  const connectCalls = (await calls(page)).filter((c) => c.cmd === 'connect_client');
  expect(connectCalls.map((c) => c.args)).toEqual([
    { client: 'claude-code', options: { dryRun: true } },
    { client: 'claude-code', options: {} },
  ]);

  // --- Settings: the connection to Cursor, by keyboard (arrow keys move within the group) ---
  const connection = page.getByRole('group', { name: 'Connection to Cursor' });
  const http2 = connection.getByRole('radio', { name: 'HTTP/2 (default, fastest)' });
  const http1 = connection.getByRole('radio', { name: 'HTTP/1.1 (for proxies and firewalls that break HTTP/2)' });
  await expect(http2).toBeChecked();
  await http2.focus();
  await page.keyboard.press('ArrowDown');
  await expect(http1).toBeChecked();
  await expect(http1).toBeFocused();
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(page.getByText('Saved.')).toBeVisible();
  const saved = (await calls(page)).filter((c) => c.cmd === 'update_settings').at(-1);
  expect(saved?.args).toEqual({ settings: expect.objectContaining({ agentTransport: 'http1', defaultModel: 'gpt-5-codex' }) });

  // --- Settings: forget the kept conversations (asks first) ---
  await page.getByRole('button', { name: 'Forget conversations…' }).click();
  await page.getByRole('button', { name: 'Forget conversations', exact: true }).click();
  await expect(page.getByText('Forgot 2 conversations.')).toBeVisible();
  expect((await calls(page)).filter((c) => c.cmd === 'forget_conversations')).toHaveLength(1);

  expect(consoleErrors).toEqual([]);
});

test('non-loopback bind address needs an explicit confirmation', async ({ page }) => {
  await open(page, { signedIn: true });
  await page.getByRole('button', { name: 'Settings' }).click();
  const host = page.getByLabel('Bind address');
  await host.fill('0.0.0.0');
  await expect(page.getByTestId('exposed-warning')).toBeVisible();
  const save = page.getByRole('button', { name: 'Save', exact: true });
  await expect(save).toBeDisabled();
  await page.getByLabel('I understand, listen on 0.0.0.0').check();
  await expect(save).toBeEnabled();
  await save.click();
  await expect(page.getByText('Saved.')).toBeVisible();
});

test('empty usage tells a new user what to do, in the dark theme', async ({ page }) => {
  await page.emulateMedia({ colorScheme: 'dark' });
  await open(page, { signedIn: true, empty: true });
  await expect(page.getByRole('heading', { name: 'No requests yet' })).toBeVisible();
  await expect(page.getByText('Run opencode and pick a Cursor Bridge model')).toBeVisible();
  await shot(page, 'usage-empty-dark');
});

test('usage with data in the dark theme', async ({ page }) => {
  await page.emulateMedia({ colorScheme: 'dark' });
  await open(page, { signedIn: true });
  await expect(page.locator('#chart-requests canvas')).toHaveCount(1);
  await shot(page, 'usage-dark');
});

test('a timed-out sign-in shows a friendly message and retries', async ({ page }) => {
  await open(page, { signedIn: false, signInDelayMs: 50, signInError: 'login_timed_out' });
  await page.getByRole('button', { name: 'Sign in with Cursor' }).click();
  const alert = page.getByRole('alert');
  await expect(alert).toContainText('The sign-in was not approved in time.');
  await expect(alert).toContainText('The browser sign-in was not approved within 5 minutes.');
  await alert.getByRole('button', { name: 'Try again' }).click();
  await expect(page.getByTestId('account-email')).toHaveText('ada@example.com');
});

// Regression: the pending sign-in lived in a module global of the Account view, so a window
// closed and reopened while the backend waited showed "Sign in" again, and clicking it
// cancelled the first sign-in. Now the view follows `Status.signIn`.
test('a reloaded window shows the pending sign-in with Cancel, and no Sign in to click', async ({ page }) => {
  await open(page, { signedIn: false, signInDelayMs: -1 }); // approve by hand below
  await page.getByRole('button', { name: 'Sign in with Cursor' }).click();
  await expect(page.getByText('Approve the sign-in in your browser…')).toBeVisible();

  await page.reload(); // the fake backend keeps its pending sign-in, as the real one does
  await expect(page.getByText('Approve the sign-in in your browser…')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Cancel' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Sign in with Cursor' })).toHaveCount(0);
  // The reloaded page started nothing and cancelled nothing.
  const cmds = (await calls(page)).map((c) => c.cmd);
  expect(cmds).not.toContain('sign_in');
  expect(cmds).not.toContain('cancel_sign_in');

  await page.evaluate(() => window.__fake!.approveSignIn());
  await expect(page.getByTestId('account-email')).toHaveText('ada@example.com');
});

test('keyboard only: reach a screen and sign in without a mouse', async ({ page }) => {
  await open(page, { signedIn: false, signInDelayMs: 50 });
  await expect(page.getByRole('button', { name: 'Sign in with Cursor' })).toBeVisible();
  // Tab order: status bar Start, then the sidebar.
  const focusedName = () => page.evaluate(() => document.activeElement?.textContent?.trim());
  const seen: string[] = [];
  for (let i = 0; i < 8 && !seen.includes('Sign in with Cursor'); i++) {
    await page.keyboard.press('Tab');
    seen.push((await focusedName()) ?? '');
  }
  expect(seen).toEqual(expect.arrayContaining(['Start', 'Account', 'Models', 'Usage', 'Settings', 'Sign in with Cursor']));
  // The focused control shows a visible focus ring.
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
  expect(outline).toBe('solid');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('account-email')).toHaveText('ada@example.com');
});
