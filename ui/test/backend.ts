// A per-test fake backend over @tauri-apps/api/mocks' mockIPC: handlers by command name,
// every call recorded, events through the mock's `emit`.
import { mockIPC } from '@tauri-apps/api/mocks';
import { emit } from '@tauri-apps/api/event';
import type { GuardStatus, Model, Settings, Status, UsageReport } from '../src/ipc';

export type Handler = (args: Record<string, unknown>) => unknown;

export function status(over: Partial<Status> = {}): Status {
  return {
    signedIn: true,
    account: { email: 'ada@example.com', plan: 'Pro' },
    proxy: { state: 'running', host: '127.0.0.1', port: 18741, baseUrl: 'http://127.0.0.1:18741/v1', error: null },
    launchAtLogin: false,
    version: '0.1.0',
    commit: '6a334c3a1b',
    clientVersion: { version: 'cli-2026.07.23-e383d2b', source: 'installer', sourceLabel: "Cursor's CLI installer" },
    signIn: null,
    guard: { paused: false, tripped: [] },
    ...over,
  };
}

export const signedOut = (over: Partial<Status> = {}) =>
  status({ signedIn: false, account: null, proxy: { state: 'stopped', host: '127.0.0.1', port: 18741, baseUrl: 'http://127.0.0.1:18741/v1', error: null }, ...over });

/** Signed out, a browser sign-in waiting for approval (what `get_status` says meanwhile). */
export const waitingForBrowser = (attempt = 1) =>
  signedOut({ signIn: { attempt, startedUnixMs: Date.UTC(2026, 10, 20, 14, 0) } });

export const settings = (over: Partial<Settings> = {}): Settings => ({
  host: '127.0.0.1',
  port: 18741,
  defaultModel: 'claude-4.5-sonnet',
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
  ...over,
});

/** The guard with nothing tripped, some requests counted today. */
export const guard = (over: Partial<GuardStatus> = {}): GuardStatus => ({
  rules: { enabled: true, repeatLimit: 5, maxToolSteps: 100, requestsPerMinute: 120, dailyRequests: 0, dailyTokens: 200000, onDemand: 'warn' },
  paused: false,
  trips: [],
  day: '2026-11-20',
  requestsToday: 42,
  tokensToday: 51234,
  requestsLastMinute: 3,
  onDemand: false,
  ...over,
});

export const models: Model[] = [
  { id: 'claude-4.5-sonnet', name: 'Claude 4.5 Sonnet', aliases: ['sonnet'], reasoning: false, supportsImages: true, contextLimit: 200000, outputLimit: 64000, limitSource: 'cursor' },
  { id: 'gpt-5', name: 'GPT-5', aliases: [], reasoning: true, supportsImages: true, contextLimit: 272000, outputLimit: 128000, limitSource: 'cursor' },
  { id: 'gemini-2.5-pro', name: 'Gemini 2.5 Pro', aliases: ['gemini'], reasoning: true, supportsImages: true, contextLimit: 1048576, outputLimit: 65536, limitSource: 'cursor' },
];

export function report(over: Partial<UsageReport> = {}): UsageReport {
  const t0 = Date.UTC(2026, 10, 20, 10);
  return {
    range: '24h',
    bucket: 'hour',
    generatedAt: Date.UTC(2026, 10, 20, 14, 30),
    totals: {
      requests: 7,
      errors: 1,
      promptTokens: 42000,
      completionTokens: 3100,
      cacheReadTokens: 30000,
      cacheWriteTokens: 2000,
      reasoningTokens: 450,
      estimatedRequests: 0,
    },
    series: [
      {
        bucketStart: t0,
        model: 'claude-4.5-sonnet',
        requests: 4,
        errors: 0,
        promptTokens: 24000,
        completionTokens: 2000,
        cacheReadTokens: 20000,
        cacheWriteTokens: 1500,
        reasoningTokens: 0,
        estimatedRequests: 0,
      },
      {
        bucketStart: t0 + 3600e3,
        model: 'gpt-5',
        requests: 3,
        errors: 1,
        promptTokens: 18000,
        completionTokens: 1100,
        cacheReadTokens: 10000,
        cacheWriteTokens: 500,
        reasoningTokens: 450,
        estimatedRequests: 0,
      },
    ],
    latency: { ttftP50Ms: 820, ttftP95Ms: 2400, totalP50Ms: 6100, totalP95Ms: 21800 },
    errorsByKind: [{ kind: 'upstream', count: 1 }],
    tokensExact: true,
    seriesByDialect: [
      { bucketStart: t0, key: 'chat', requests: 4, errors: 0, promptTokens: 24000, completionTokens: 2000 },
      { bucketStart: t0 + 3600e3, key: 'messages', requests: 3, errors: 1, promptTokens: 18000, completionTokens: 1100 },
    ],
    seriesByClient: [
      { bucketStart: t0, key: 'opencode', requests: 4, errors: 0, promptTokens: 24000, completionTokens: 2000 },
      { bucketStart: t0 + 3600e3, key: 'claude-cli', requests: 3, errors: 1, promptTokens: 18000, completionTokens: 1100 },
    ],
    byDialect: [
      { key: 'chat', requests: 4, errors: 0, promptTokens: 24000, completionTokens: 2000, estimatedRequests: 0 },
      { key: 'messages', requests: 3, errors: 1, promptTokens: 18000, completionTokens: 1100, estimatedRequests: 0 },
    ],
    byClient: [
      { key: 'opencode', requests: 4, errors: 0, promptTokens: 24000, completionTokens: 2000, estimatedRequests: 0 },
      { key: 'claude-cli', requests: 3, errors: 1, promptTokens: 18000, completionTokens: 1100, estimatedRequests: 0 },
    ],
    ...over,
  };
}

export const emptyReport = () =>
  report({
    totals: {
      requests: 0,
      errors: 0,
      promptTokens: 0,
      completionTokens: 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
      estimatedRequests: 0,
    },
    series: [],
    latency: { ttftP50Ms: null, ttftP95Ms: null, totalP50Ms: null, totalP95Ms: null },
    errorsByKind: [],
    seriesByDialect: [],
    seriesByClient: [],
    byDialect: [],
    byClient: [],
  });

/** Sensible answers for every command; a test overrides what it is about. */
export function defaults(): Record<string, Handler> {
  return {
    get_status: () => status(),
    list_models: () => models,
    get_settings: () => settings(),
    update_settings: (a) => a.settings,
    get_api_key: () => 'cb-local-secret-0123456789abcdef',
    usage_report: () => report(),
    plan_usage: () => ({ spentCents: 1347, includedCents: 2000, remainingCents: 653, totalPercentUsed: 67.35, pools: [], cycleStart: null, cycleEnd: null, fetchedAt: Date.UTC(2026, 10, 20, 14, 29) }),
    recent_errors: () => [],
    guard_status: () => guard(),
    forget_conversations: () => 0,
    opencode_snippet: () => ({ text: '{\n  "provider": {}\n}', baseUrl: 'http://127.0.0.1:18741/v1' }),
    connection_status: () => [
      { client: 'opencode', name: 'OpenCode', path: '/home/ada/.config/opencode/opencode.jsonc', connected: false, stale: false },
      { client: 'claude-code', name: 'Claude Code', path: '/home/ada/.claude/settings.json', connected: false, stale: false },
      { client: 'codex', name: 'Codex CLI', path: '/home/ada/.codex/config.toml', connected: false, stale: false },
    ],
  };
}

export interface Backend {
  calls: { cmd: string; args: Record<string, unknown> }[];
  callsOf(cmd: string): Record<string, unknown>[];
  emitStatus(s: Status): Promise<void>;
}

export function mockBackend(overrides: Record<string, Handler> = {}): Backend {
  const handlers = { ...defaults(), ...overrides };
  const calls: Backend['calls'] = [];
  mockIPC(
    (cmd, payload) => {
      const args = (payload ?? {}) as Record<string, unknown>;
      calls.push({ cmd, args });
      const h = handlers[cmd];
      if (!h) throw { kind: 'internal', message: `No fake for ${cmd}` };
      return h(args);
    },
    { shouldMockEvents: true },
  );
  return {
    calls,
    callsOf: (cmd) => calls.filter((c) => c.cmd === cmd).map((c) => c.args),
    emitStatus: (s) => emit('status-changed', s),
  };
}

/**
 * A browser sign-in the test settles by hand, run the way the backend runs it: `sign_in`
 * publishes a status whose `signIn` is set, and approving or cancelling publishes one
 * without before the call settles.
 */
export function browserSignIn() {
  const pending = deferred<Status>();
  // A window that did not start the sign-in may cancel it: nobody awaits it then.
  pending.promise.catch(() => {});
  let attempt = 0;
  return {
    handlers: {
      sign_in: () => {
        attempt++;
        void emit('status-changed', waitingForBrowser(attempt));
        return pending.promise;
      },
      cancel_sign_in: async () => {
        await emit('status-changed', signedOut());
        pending.reject({ kind: 'login_cancelled', message: 'Sign-in was cancelled.' });
        return null;
      },
    } satisfies Record<string, Handler>,
    approve: async () => {
      await emit('status-changed', status());
      pending.resolve(status());
    },
  };
}

/** A promise the test settles by hand (e.g. a sign-in waiting for the browser). */
export function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
