// A fake Cursor Bridge backend for the browser: defines `window.__TAURI_INTERNALS__` the
// way @tauri-apps/api v2 expects it (`invoke(cmd, args, options)`, `transformCallback`,
// plus `plugin:event|listen`/`unlisten` for `listen`), serves realistic data for every
// command in docs/IPC.md and keeps state (sign-in, proxy, settings, key).
//
// Used by Playwright (`page.addInitScript({ path })`, runs before the app loads) and by
// `npm run dev` in a plain browser. Plain JS, no imports: it must run as a classic script.
// Options: set `window.__FAKE_BACKEND__ = { signedIn, empty, signInDelayMs, signInError,
// exposeHost }` before this runs, or pass `?signedIn=1&empty=1` in the dev URL.
(function installFakeBackend() {
  if (window.__TAURI_INTERNALS__ && window.__TAURI_INTERNALS__.__fake) return;
  const q = new URLSearchParams(location.search);
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
  const err = (kind, message) => ({ kind, message });

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
    },
    apiKey: 'cb-local-7f3a9c2e51d84b06a9e1f0c4d2b7e8a1',
    launchAtLogin: false,
    pendingSignIn: null,
    calls: [],
    clipboardWrites: [],
  };

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
      clientVersion: { version: 'cli-2026.07.23-e383d2b', source: 'installed_cli', sourceLabel: 'newest installed Cursor CLI' },
    };
  }

  // Deterministic pseudo-random numbers so screenshots do not churn between runs.
  function rng(seed) {
    return function next() {
      seed |= 0;
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function usage(range) {
    const now = Date.now();
    const bucket = range === '24h' ? 'hour' : 'day';
    const step = bucket === 'hour' ? HOUR : DAY;
    const count = range === '24h' ? 24 : range === '7d' ? 7 : 30;
    const last = Math.floor(now / step) * step;
    const used = [
      ['claude-4.5-sonnet', 1.0],
      ['gpt-5', 0.55],
      ['gemini-2.5-pro', 0.25],
    ];
    const series = [];
    const rand = rng(range === '24h' ? 11 : range === '7d' ? 7 : 30);
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
        }
      }
    }
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
    const totals = Object.fromEntries(keys.map((k) => [k, series.reduce((sum, p) => sum + p[k], 0)]));
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
    };
  }

  function snippet() {
    const { host, port } = state.settings;
    const baseURL = `http://${host}:${port}/v1`;
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
  const callbacks = new Map();
  let nextCallback = 1;
  const listeners = new Map(); // event -> handler ids
  function transformCallback(cb, once) {
    const id = nextCallback++;
    callbacks.set(id, (data) => {
      if (once) callbacks.delete(id);
      return cb && cb(data);
    });
    return id;
  }
  function emit(event, payload) {
    for (const id of listeners.get(event) || []) {
      const cb = callbacks.get(id);
      if (cb) cb({ event, id, payload });
    }
  }
  const changed = () => emit('status-changed', status());

  const delay = (ms) => new Promise((r) => setTimeout(r, ms));

  const handlers = {
    get_status: () => status(),
    sign_in: () => {
      if (state.signedIn) return status();
      return new Promise((resolve, reject) => {
        const finish = () => {
          state.pendingSignIn = null;
          if (opts.signInError) {
            const e = opts.signInError;
            opts.signInError = null; // the retry succeeds
            reject(err(e, e === 'login_timed_out' ? 'The browser sign-in was not approved within 5 minutes.' : 'Sign-in failed.'));
            return;
          }
          state.signedIn = true;
          changed();
          resolve(status());
        };
        const timer = opts.signInDelayMs >= 0 ? setTimeout(finish, opts.signInDelayMs) : null;
        state.pendingSignIn = {
          approve: () => {
            if (timer) clearTimeout(timer);
            finish();
          },
          cancel: () => {
            if (timer) clearTimeout(timer);
            state.pendingSignIn = null;
            reject(err('login_cancelled', 'Sign-in was cancelled.'));
          },
        };
      });
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
        { at: now - 25 * 60e3, kind: 'upstream', message: 'Cursor returned an error for gpt-5: resource exhausted. Retried once.' },
        { at: now - 3 * HOUR, kind: 'network', message: 'The connection to Cursor dropped mid-stream.' },
      ];
    },
    opencode_snippet: () => snippet(),
    opencode_install: ({ path }) => ({
      path: path || '/home/ada/.config/opencode/opencode.json',
      backup: '/home/ada/.config/opencode/opencode.json.bak-20261120-1430',
      created: false,
    }),
    set_launch_at_login: ({ enabled }) => {
      state.launchAtLogin = !!enabled;
      changed();
      return state.launchAtLogin;
    },
    open_log_folder: () => null,
  };

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
      listeners.set(args.event, ids.filter((x) => x !== args.eventId));
      return null;
    }
    const h = handlers[cmd];
    if (!h) throw `Command ${cmd} not found`; // what Tauri itself rejects with: a string
    await delay(20); // IPC is never synchronous
    return h(args || {});
  }

  window.__TAURI_INTERNALS__ = {
    __fake: true,
    invoke,
    transformCallback,
    unregisterCallback: (id) => callbacks.delete(id),
    runCallback: (id, data) => callbacks.get(id) && callbacks.get(id)(data),
    callbacks,
    metadata: { currentWindow: { label: 'main' }, currentWebview: { windowLabel: 'main', label: 'main' } },
  };
  window.__TAURI_EVENT_PLUGIN_INTERNALS__ = {
    unregisterListener: (_event, id) => callbacks.delete(id),
  };
  // Test hooks: inspect calls, approve a pending sign-in, push a status change.
  window.__fake = {
    state,
    calls: state.calls,
    approveSignIn: () => state.pendingSignIn && state.pendingSignIn.approve(),
    setProxy: (s) => {
      state.proxy = s;
      changed();
    },
  };
})();
