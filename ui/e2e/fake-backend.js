// @ts-check
// A fake Cursor Bridge backend for the browser: defines `window.__TAURI_INTERNALS__` the
// way @tauri-apps/api v2 expects it (`invoke(cmd, args, options)`, `transformCallback`,
// plus `plugin:event|listen`/`unlisten` for `listen`), serves realistic data for every
// command in docs/IPC.md and keeps state (sign-in, proxy, settings, key).
//
// Used by Playwright (`page.addInitScript({ path })`, runs before the app loads) and by
// `npm run dev` in a plain browser. Plain JS, no imports: it must run as a classic script.
// Typed all the same (`tsc` checks it): its answers are the types generated from the Rust
// contract (src/generated/ipc.ts, through src/ipc.ts), so a renamed field breaks the build.
/** @typedef {import('../src/ipc').Status} Status */
/** @typedef {import('../src/ipc').Model} Model */
/** @typedef {import('../src/ipc').Settings} Settings */
/** @typedef {import('../src/ipc').Range} UsageRange (DOM has a `Range` of its own) */
/** @typedef {import('../src/ipc').UsageReport} UsageReport */
/** @typedef {import('../src/ipc').Client} Client */
/** @typedef {import('../src/ipc').UsagePoint} UsagePoint */
/** @typedef {import('../src/ipc').SplitPoint} SplitPoint */
/** @typedef {import('../src/ipc').SplitUsage} SplitUsage */
/** @typedef {import('../src/ipc').UsageTotals} UsageTotals */
/** @typedef {import('../src/ipc').OpencodeSnippet} OpencodeSnippet */
/** @typedef {import('../src/ipc').CommandError} CommandError */
/** @typedef {import('../src/ipc').ProxyState} ProxyState */
/** @typedef {import('./fake-backend').FakeOptions} FakeOptions */
/** @typedef {import('./fake-backend').FakeHandlers} FakeHandlers */
// Options: set `window.__FAKE_BACKEND__ = { signedIn, empty, signInDelayMs, signInError,
// exposeHost }` before this runs, or pass `?signedIn=1&empty=1` in the dev URL.
(function installFakeBackend() {
  if (window.__TAURI_INTERNALS__ && window.__TAURI_INTERNALS__.__fake) return;
  const q = new URLSearchParams(location.search);
  /** @type {FakeOptions} */
  const opts = Object.assign(
    {
      signedIn: q.get('signedIn') === '1',
      empty: q.get('empty') === '1',
      signInDelayMs: 900,
      signInError: q.get('signInError') || null,
    },
    window.__FAKE_BACKEND__ || {},
  );

  const HOUR = 3600e3;
  const DAY = 24 * HOUR;
  /** @type {(kind: CommandError['kind'], message: string) => CommandError} */
  const err = (kind, message) => ({ kind, message });

  /** @type {Model[]} */
  const models = [
    { id: 'claude-4.5-sonnet', name: 'Claude 4.5 Sonnet', aliases: ['sonnet'], reasoning: false, supportsImages: true, contextLimit: 200000, outputLimit: 64000, limitSource: 'cursor' },
    { id: 'claude-4.5-sonnet-thinking', name: 'Claude 4.5 Sonnet (thinking)', aliases: [], reasoning: true, supportsImages: true, contextLimit: 200000, outputLimit: 64000, limitSource: 'cursor' },
    { id: 'claude-4.1-opus', name: 'Claude 4.1 Opus', aliases: ['opus'], reasoning: true, supportsImages: true, contextLimit: 200000, outputLimit: 32000, limitSource: 'known_family' },
    { id: 'gpt-5', name: 'GPT-5', aliases: [], reasoning: true, supportsImages: true, contextLimit: 272000, outputLimit: 128000, limitSource: 'cursor' },
    { id: 'gpt-5-codex', name: 'GPT-5 Codex', aliases: ['codex'], reasoning: true, supportsImages: false, contextLimit: 272000, outputLimit: 128000, limitSource: 'known_family' },
    { id: 'gemini-2.5-pro', name: 'Gemini 2.5 Pro', aliases: ['gemini'], reasoning: true, supportsImages: true, contextLimit: 1048576, outputLimit: 65536, limitSource: 'cursor' },
    { id: 'grok-code-fast-1', name: 'Grok Code Fast 1', aliases: [], reasoning: false, supportsImages: null, contextLimit: 256000, outputLimit: 10000, limitSource: 'default' },
    { id: 'composer-1', name: 'Composer 1', aliases: ['composer'], reasoning: false, supportsImages: null, contextLimit: 200000, outputLimit: 32000, limitSource: 'known_family' },
  ];

  /**
   * @typedef {{ attempt: number, startedUnixMs: number, approve(): void, cancel(): void }} PendingSignIn
   * @type {{ signedIn: boolean, proxy: ProxyState, settings: Settings, apiKey: string,
   *   launchAtLogin: boolean, guardPaused: boolean, pendingSignIn: PendingSignIn | null, signInAttempts: number,
   *   conversations?: number, calls: { cmd: string, args: Record<string, unknown> }[],
   *   clipboardWrites: string[], connected: Set<string> }}
   */
  const state = {
    signedIn: !!opts.signedIn,
    proxy: opts.signedIn ? 'running' : 'stopped',
    settings: {
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
    },
    guardPaused: false,
    apiKey: 'cb-local-7f3a9c2e51d84b06a9e1f0c4d2b7e8a1',
    launchAtLogin: false,
    pendingSignIn: null,
    signInAttempts: 0,
    calls: [],
    clipboardWrites: [],
    connected: new Set(),
  };

  /**
   * The clients "Connect your tools" lists, where their configs are and how to run them.
   * @type {{ client: Client, name: string, path: string, run: string }[]}
   */
  const CLIENTS = [
    { client: 'opencode', name: 'OpenCode', path: '/home/ada/.config/opencode/opencode.jsonc', run: '`opencode`' },
    { client: 'claude-code', name: 'Claude Code', path: '/home/ada/.claude/settings.json', run: '`claude`' },
    { client: 'codex', name: 'Codex CLI', path: '/home/ada/.codex/config.toml', run: '`codex -c model_provider=cursor-bridge -m auto`' },
  ];

  /** @returns {Status} */
  function status() {
    const { host, port } = state.settings;
    return {
      signedIn: state.signedIn,
      account: state.signedIn ? { email: 'ada@example.com', plan: 'Pro' } : null,
      proxy: {
        state: state.proxy,
        host,
        port,
        baseUrl: `http://${host}:${port}/v1`,
        error: state.proxy === 'error' ? `Port ${port} is already in use by another program.` : null,
      },
      launchAtLogin: state.launchAtLogin,
      version: '0.1.0',
      commit: '6a334c3a1b',
      clientVersion: { version: 'cli-2026.07.23-e383d2b', source: 'installed_cli', sourceLabel: 'newest installed Cursor CLI' },
      // Like the real backend: the sign-in waiting for the browser is part of the status.
      signIn: state.pendingSignIn
        ? { attempt: state.pendingSignIn.attempt, startedUnixMs: state.pendingSignIn.startedUnixMs }
        : null,
      guard: { paused: state.guardPaused, tripped: [] },
    };
  }

  /** @returns {import('../src/ipc').GuardStatus} */
  function guardStatus() {
    const s = state.settings;
    return {
      rules: {
        enabled: s.guardEnabled,
        repeatLimit: s.guardRepeatLimit,
        maxToolSteps: s.guardMaxToolSteps,
        requestsPerMinute: s.guardRequestsPerMinute,
        dailyRequests: s.guardDailyRequests,
        dailyTokens: s.guardDailyTokens,
        onDemand: s.guardOnDemand,
      },
      paused: state.guardPaused,
      trips: [],
      day: new Date().toISOString().slice(0, 10),
      requestsToday: 42,
      tokensToday: 51234,
      requestsLastMinute: 3,
      onDemand: false,
    };
  }

  // Deterministic pseudo-random numbers so screenshots do not churn between runs.
  /** @param {number} seed */
  function rng(seed) {
    return function next() {
      seed |= 0;
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  /**
   * @param {UsageRange} range
   * @returns {UsageReport}
   */
  function usage(range) {
    const now = Date.now();
    const bucket = range === '24h' ? 'hour' : 'day';
    const step = bucket === 'hour' ? HOUR : DAY;
    const count = range === '24h' ? 24 : range === '7d' ? 7 : 30;
    const last = Math.floor(now / step) * step;
    /** @type {[string, number][]} */
    const used = [
      ['claude-4.5-sonnet', 1.0],
      ['gpt-5', 0.55],
      ['gemini-2.5-pro', 0.25],
    ];
    /** @type {UsagePoint[]} */
    const series = [];
    /** Who sent each point of `series`: [client, dialect]. */
    /** @type {[string | null, string][]} */
    const origins = [];
    const rand = rng(range === '24h' ? 11 : range === '7d' ? 7 : 30);
    // A stream of its own, so the model series (and their screenshots) stay as they were.
    const randClient = rng(range === '24h' ? 111 : range === '7d' ? 107 : 130);
    /** @type {[string | null, string, number][]} client, dialect, cumulative weight */
    const clients = [
      ['opencode', 'chat', 0.45],
      ['claude-cli', 'messages', 0.8],
      ['codex_exec', 'responses', 0.95],
      [null, 'chat', 1],
    ];
    if (!opts.empty) {
      for (let i = count - 1; i >= 0; i--) {
        const bucketStart = last - i * step;
        const hour = new Date(bucketStart).getUTCHours();
        const activity = bucket === 'hour' ? (hour >= 8 && hour <= 19 ? 1 : 0.15) : 6;
        for (const [model, weight] of used) {
          const requests = Math.round(rand() * 14 * weight * activity);
          if (requests === 0) continue;
          const errors = rand() < 0.15 ? 1 : 0;
          const promptTokens = requests * Math.round(9000 + rand() * 6000);
          const completionTokens = requests * Math.round(600 + rand() * 900);
          // Most requests counted by Cursor (cache and reasoning known), a few estimated.
          const estimatedRequests = rand() < 0.2 ? 1 : 0;
          series.push({
            bucketStart,
            model,
            requests,
            errors,
            promptTokens,
            completionTokens,
            cacheReadTokens: Math.round(promptTokens * 0.7),
            cacheWriteTokens: Math.round(promptTokens * 0.05),
            reasoningTokens: Math.round(completionTokens * 0.2),
            estimatedRequests,
          });
          const r = randClient();
          const [client, dialect] = /** @type {[string | null, string, number]} */ (
            clients.find((c) => r < c[2])
          );
          origins.push([client, dialect]);
        }
      }
    }
    /** @type {(keyof UsageTotals)[]} */
    const keys = [
      'requests',
      'errors',
      'promptTokens',
      'completionTokens',
      'cacheReadTokens',
      'cacheWriteTokens',
      'reasoningTokens',
      'estimatedRequests',
    ];
    const totals = /** @type {UsageTotals} */ (
      Object.fromEntries(keys.map((k) => [k, series.reduce((sum, p) => sum + p[k], 0)]))
    );
    const has = totals.requests > 0;
    return {
      range,
      bucket,
      generatedAt: now,
      totals,
      series,
      latency: has
        ? { ttftP50Ms: 820, ttftP95Ms: 2400, totalP50Ms: 6100, totalP95Ms: 21800 }
        : { ttftP50Ms: null, ttftP95Ms: null, totalP50Ms: null, totalP95Ms: null },
      errorsByKind: has
        ? [
            { kind: 'upstream', count: Math.ceil(totals.errors * 0.6) },
            { kind: 'network', count: Math.floor(totals.errors * 0.3) },
            { kind: 'quota', count: totals.errors - Math.ceil(totals.errors * 0.6) - Math.floor(totals.errors * 0.3) },
          ].filter((e) => e.count > 0)
        : [],
      tokensExact: totals.estimatedRequests === 0,
      seriesByDialect: splitSeries(series, origins, 1),
      seriesByClient: splitSeries(series, origins, 0),
      byDialect: splitSums(series, origins, 1),
      byClient: splitSums(series, origins, 0),
    };
  }

  /**
   * The bucket × key sums of `series`, keyed by `origins[i][which]` (0 client, 1 dialect),
   * by bucket then key as the ledger sorts them.
   * @param {UsagePoint[]} series
   * @param {[string | null, string][]} origins
   * @param {0 | 1} which
   * @returns {SplitPoint[]}
   */
  function splitSeries(series, origins, which) {
    /** @type {Map<string, SplitPoint>} */
    const out = new Map();
    series.forEach((p, i) => {
      const key = origins[i][which];
      const id = `${p.bucketStart}|${key}`;
      const s = out.get(id) ?? { bucketStart: p.bucketStart, key, requests: 0, errors: 0, promptTokens: 0, completionTokens: 0 };
      s.requests += p.requests;
      s.errors += p.errors;
      s.promptTokens += p.promptTokens;
      s.completionTokens += p.completionTokens;
      out.set(id, s);
    });
    return [...out.values()].sort(
      (a, b) => a.bucketStart - b.bucketStart || (a.key ?? '').localeCompare(b.key ?? ''),
    );
  }

  /**
   * The per-key sums over the range, most requests first.
   * @param {UsagePoint[]} series
   * @param {[string | null, string][]} origins
   * @param {0 | 1} which
   * @returns {SplitUsage[]}
   */
  function splitSums(series, origins, which) {
    /** @type {Map<string | null, SplitUsage>} */
    const out = new Map();
    series.forEach((p, i) => {
      const key = origins[i][which];
      const s = out.get(key) ?? { key, requests: 0, errors: 0, promptTokens: 0, completionTokens: 0, estimatedRequests: 0 };
      s.requests += p.requests;
      s.errors += p.errors;
      s.promptTokens += p.promptTokens;
      s.completionTokens += p.completionTokens;
      s.estimatedRequests += p.estimatedRequests;
      out.set(key, s);
    });
    return [...out.values()].sort((a, b) => b.requests - a.requests);
  }

  /** @returns {OpencodeSnippet} */
  function snippet() {
    const { host, port } = state.settings;
    const baseURL = `http://${host}:${port}/v1`;
    /** @type {Record<string, unknown>} */
    const m = {};
    for (const x of models) {
      m[x.id] = {
        name: x.name,
        limit: { context: x.contextLimit, output: x.outputLimit },
        ...(x.reasoning ? { reasoning: true } : {}),
        ...(x.supportsImages ? { attachment: true } : {}),
        tool_call: true,
      };
    }
    const block = {
      $schema: 'https://opencode.ai/config.json',
      provider: {
        'cursor-bridge': {
          npm: '@ai-sdk/openai-compatible',
          name: 'Cursor Bridge',
          options: { baseURL, apiKey: state.apiKey },
          models: m,
        },
      },
    };
    return { text: JSON.stringify(block, null, 2), baseUrl: baseURL };
  }

  // ---- event plumbing (what @tauri-apps/api/event's listen() calls into) ----
  /** @type {Map<number, (data: unknown) => unknown>} */
  const callbacks = new Map();
  let nextCallback = 1;
  /** @type {Map<string, number[]>} event -> handler ids */
  const listeners = new Map();
  /**
   * @param {((data: unknown) => unknown) | undefined} cb
   * @param {boolean} [once]
   */
  function transformCallback(cb, once) {
    const id = nextCallback++;
    callbacks.set(id, (data) => {
      if (once) callbacks.delete(id);
      return cb && cb(data);
    });
    return id;
  }
  /**
   * @param {string} event
   * @param {unknown} payload
   */
  function emit(event, payload) {
    for (const id of listeners.get(event) || []) {
      const cb = callbacks.get(id);
      if (cb) cb({ event, id, payload });
    }
  }
  // The backend outlives its window: a sign-in pending when the page reloads is still
  // pending afterwards (kept in sessionStorage), as the real one is when the window reopens.
  const KEPT = 'fake-backend:sign-in';
  const changed = () => {
    const p = state.pendingSignIn;
    if (p) sessionStorage.setItem(KEPT, JSON.stringify({ attempt: p.attempt, startedUnixMs: p.startedUnixMs }));
    else sessionStorage.removeItem(KEPT);
    emit('status-changed', status());
  };

  /**
   * Starts waiting for the browser: `state.pendingSignIn` until it is approved (by the
   * timer of `signInDelayMs`, or `__fake.approveSignIn()`) or cancelled; `settle` hears how
   * it ended (a sign-in restored after a reload has no caller to tell).
   * @param {number} attempt
   * @param {number} startedUnixMs
   * @param {(outcome: 'approved' | 'failed', failure?: CommandError) => void} settle
   */
  function pend(attempt, startedUnixMs, settle) {
    /** @param {CommandError | null} failure */
    const end = (failure) => {
      if (timer) clearTimeout(timer);
      state.pendingSignIn = null;
      if (!failure) state.signedIn = true;
      changed();
      if (failure) settle('failed', failure);
      else settle('approved');
    };
    const approve = () => {
      const kind = /** @type {CommandError['kind'] | null} */ (opts.signInError);
      opts.signInError = null; // the retry succeeds
      end(kind && err(kind, kind === 'login_timed_out' ? 'The browser sign-in was not approved within 5 minutes.' : 'Sign-in failed.'));
    };
    const timer = opts.signInDelayMs >= 0 ? setTimeout(approve, opts.signInDelayMs) : null;
    state.signInAttempts = attempt;
    state.pendingSignIn = {
      attempt,
      startedUnixMs,
      approve,
      cancel: () => end(err('login_cancelled', 'Sign-in was cancelled.')),
    };
    changed();
  }

  /** @param {number} ms */
  const delay = (ms) => new Promise((r) => setTimeout(r, ms));

  /** @type {FakeHandlers} */
  const handlers = {
    get_status: () => status(),
    // Like the real backend: a sign-in is part of the status while it waits (`signIn`),
    // published when it starts and when it ends; a second sign_in cancels the first.
    sign_in: () => {
      if (state.signedIn) return status();
      if (state.pendingSignIn) state.pendingSignIn.cancel();
      /** @type {Promise<Status>} */
      const done = new Promise((resolve, reject) => {
        pend(state.signInAttempts + 1, Date.now(), (outcome, failure) => {
          if (outcome === 'approved') resolve(status());
          else reject(failure);
        });
      });
      return done;
    },
    cancel_sign_in: () => {
      if (state.pendingSignIn) state.pendingSignIn.cancel();
      return null;
    },
    sign_out: () => {
      state.signedIn = false;
      changed();
      return status();
    },
    list_models: async (args) => {
      if (!state.signedIn) throw err('not_signed_in', 'Sign in with Cursor to see its models.');
      if (args && args.refresh) await delay(300);
      return models;
    },
    get_settings: () => ({ ...state.settings }),
    update_settings: ({ settings }) => {
      if (!Number.isInteger(settings.port) || settings.port < 1 || settings.port > 65535) {
        throw err('invalid_input', 'port must be between 1 and 65535.');
      }
      if (!models.some((m) => m.id === settings.defaultModel)) {
        throw err('invalid_input', `defaultModel: unknown model "${settings.defaultModel}".`);
      }
      if (settings.agentTransport !== 'http2' && settings.agentTransport !== 'http1') {
        throw err('invalid_input', `agentTransport: expected "http2" or "http1", got ${JSON.stringify(settings.agentTransport)}`);
      }
      state.settings = { ...settings };
      changed();
      return { ...state.settings };
    },
    start_proxy: async () => {
      await delay(150);
      state.proxy = 'running';
      changed();
      return status();
    },
    stop_proxy: () => {
      state.proxy = 'stopped';
      changed();
      return status();
    },
    get_api_key: () => state.apiKey,
    guard_status: () => guardStatus(),
    guard_pause: () => {
      state.guardPaused = true;
      changed();
      return guardStatus();
    },
    guard_resume: () => {
      state.guardPaused = false;
      changed();
      return guardStatus();
    },
    forget_conversations: () => {
      const n = state.conversations ?? 2;
      state.conversations = 0;
      return n;
    },
    regenerate_api_key: () => {
      state.apiKey = 'cb-local-' + Array.from({ length: 32 }, (_, i) => '0123456789abcdef'[(i * 7 + 3) % 16]).join('');
      return state.apiKey;
    },
    usage_report: ({ range }) => usage(range),
    plan_usage: () => {
      if (!state.signedIn) throw err('not_signed_in', 'Sign in with Cursor to see plan usage.');
      const now = Date.now();
      return {
        spentCents: 1347,
        includedCents: 2000,
        remainingCents: 653,
        totalPercentUsed: 67.35,
        pools: [
          { id: 'auto', label: 'Auto + Composer', percentUsed: 41 },
          { id: 'api', label: 'API models', percentUsed: 88.5 },
        ],
        cycleStart: now - 12 * DAY,
        cycleEnd: now + 18 * DAY,
        fetchedAt: now - 60e3,
      };
    },
    recent_errors: () => {
      const now = Date.now();
      return [
        { at: now - 25 * 60e3, kind: 'upstream', dialect: 'messages', client: 'claude-cli', message: 'Cursor returned an error for gpt-5: resource exhausted. Retried once.' },
        { at: now - 3 * HOUR, kind: 'network', dialect: 'chat', client: 'opencode', message: 'The connection to Cursor dropped mid-stream.' },
      ];
    },
    opencode_snippet: () => snippet(),
    opencode_install: () => ({
      path: '/home/ada/.config/opencode/opencode.json',
      backup: '/home/ada/.config/opencode/opencode.json.bak-20261120-1430',
      created: false,
    }),
    set_launch_at_login: ({ enabled }) => {
      state.launchAtLogin = !!enabled;
      changed();
      return state.launchAtLogin;
    },
    open_log_folder: () => null,
    // Connect your tools: which clients are connected, as the real backend records it.
    connection_status: () =>
      CLIENTS.map((c) => ({ client: c.client, name: c.name, path: c.path, connected: state.connected.has(c.client), stale: false })),
    connect_client: ({ client, options }) => {
      const c = CLIENTS.find((x) => x.client === client);
      if (!c) throw err('invalid_input', `unknown client ${client}`);
      const dryRun = !!(options && options.dryRun);
      const already = state.connected.has(client);
      if (!dryRun) state.connected.add(client);
      return {
        client,
        path: c.path,
        diff: already ? '' : `--- ${c.path}\n+++ ${c.path}\n@@ -1 +1,3 @@\n+  "env": {\n+    "ANTHROPIC_BASE_URL": "http://127.0.0.1:18741"\n`,
        backup: dryRun || already ? null : `${c.path}.bak-20261120-1430`,
        created: false,
        dryRun,
        notes: [`Run ${c.run}.`],
      };
    },
    disconnect_client: ({ client }) => {
      const c = CLIENTS.find((x) => x.client === client);
      const was = state.connected.delete(client);
      return { client, path: was && c ? c.path : null, backup: null, restoredExactly: was, removed: false, notes: [] };
    },
    client_snippet: ({ client }) => ({ client, text: client === 'opencode' ? JSON.stringify(JSON.parse(snippet().text)) : `# ${client}`, path: null, notes: [] }),
  };

  /**
   * What `invoke` of @tauri-apps/api calls. Event plumbing aside, `cmd` is a command of
   * the contract and `args` its arguments; the lookup below is where the fake meets the
   * untyped wire, so it is typed loosely on purpose.
   * @param {string} cmd
   * @param {any} args
   * @param {unknown} [_options]
   */
  async function invoke(cmd, args, _options) {
    state.calls.push({ cmd, args: args ? JSON.parse(JSON.stringify(args)) : {} });
    if (cmd === 'plugin:event|listen') {
      const ids = listeners.get(args.event) || [];
      ids.push(args.handler);
      listeners.set(args.event, ids);
      return args.handler;
    }
    if (cmd === 'plugin:event|unlisten') {
      const ids = listeners.get(args.event) || [];
      listeners.set(args.event, ids.filter((/** @type {number} */ x) => x !== args.eventId));
      return null;
    }
    if (!(cmd in handlers)) throw `Command ${cmd} not found`; // what Tauri itself rejects with: a string
    const h = /** @type {(args: unknown) => unknown} */ (handlers[/** @type {keyof FakeHandlers} */ (cmd)]);
    await delay(20); // IPC is never synchronous
    return h(args || {});
  }

  window.__TAURI_INTERNALS__ = {
    __fake: true,
    invoke,
    transformCallback,
    unregisterCallback: (/** @type {number} */ id) => callbacks.delete(id),
    runCallback: (/** @type {number} */ id, /** @type {unknown} */ data) => callbacks.get(id)?.(data),
    callbacks,
    metadata: { currentWindow: { label: 'main' }, currentWebview: { windowLabel: 'main', label: 'main' } },
  };
  window.__TAURI_EVENT_PLUGIN_INTERNALS__ = {
    unregisterListener: (/** @type {string} */ _event, /** @type {number} */ id) => callbacks.delete(id),
  };
  // A sign-in the page before this one left pending (see KEPT): still waiting.
  const kept = sessionStorage.getItem(KEPT);
  if (kept && !state.signedIn) {
    const { attempt, startedUnixMs } = JSON.parse(kept);
    pend(attempt, startedUnixMs, () => {});
  }
  // Test hooks: inspect calls, approve a pending sign-in, push a status change.
  window.__fake = {
    state,
    calls: state.calls,
    approveSignIn: () => state.pendingSignIn && state.pendingSignIn.approve(),
    setProxy: (/** @type {ProxyState} */ s) => {
      state.proxy = s;
      changed();
    },
  };
})();
