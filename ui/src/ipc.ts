// The only module that talks to the backend (docs/IPC.md is the contract).
//
// Every command is a typed wrapper over Tauri's `invoke`; every failure becomes an
// `IpcError` carrying the backend's `CommandError` `{kind, message}` so views can show
// `message` (a sentence for the user) and never a stack trace. Views import from here,
// never from `@tauri-apps/*`.
import { invoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';

// ---- Types (mirror docs/IPC.md exactly) ----

export type ProxyState = 'running' | 'stopped' | 'error';
export interface Account {
  email: string | null;
  plan: string | null;
}
export interface ProxyStatus {
  state: ProxyState;
  host: string;
  port: number;
  baseUrl: string;
  error: string | null;
}
export interface Status {
  signedIn: boolean;
  /** null when signed out or not fetched yet */
  account: Account | null;
  proxy: ProxyStatus;
  /** read back from the OS, not remembered */
  launchAtLogin: boolean;
  version: string;
  /** the x-cursor-client-version Cursor is sent, and where it came from */
  clientVersion: ClientVersion;
}
export interface ClientVersion {
  /** e.g. "cli-2026.07.23-e383d2b" */
  version: string;
  source: 'setting' | 'installed_cli' | 'installer' | 'built_in';
  /** the source in words, e.g. "newest installed Cursor CLI" */
  sourceLabel: string;
}
export interface Model {
  id: string;
  name: string;
  aliases: string[];
  reasoning: boolean;
  supportsImages: boolean | null;
  contextLimit: number;
  outputLimit: number;
  limitSource: 'cursor' | 'known_family' | 'default';
}
/** How agent runs reach Cursor: one HTTP/2 stream, or HTTP/1.1 for networks that break HTTP/2. */
export type AgentTransport = 'http2' | 'http1';
export interface Settings {
  host: string;
  port: number;
  defaultModel: string;
  startProxyOnLaunch: boolean;
  requireApiKey: boolean;
  agentTransport: AgentTransport;
}
export type Range = '24h' | '7d' | '30d';
/** Request and token sums; cache and reasoning tokens are parts of prompt and completion. */
export interface UsageTotals {
  requests: number;
  errors: number;
  /** includes cacheReadTokens */
  promptTokens: number;
  /** includes reasoningTokens */
  completionTokens: number;
  /** known only for requests Cursor counted (exact) */
  cacheReadTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  /** requests whose counts are our estimate (Cursor sent none) */
  estimatedRequests: number;
}
/** One bucket × model. */
export interface UsagePoint extends UsageTotals {
  bucketStart: number;
  model: string;
}
export interface UsageReport {
  range: Range;
  bucket: 'hour' | 'day';
  generatedAt: number;
  totals: UsageTotals;
  series: UsagePoint[];
  latency: {
    ttftP50Ms: number | null;
    ttftP95Ms: number | null;
    totalP50Ms: number | null;
    totalP95Ms: number | null;
  };
  errorsByKind: { kind: string; count: number }[];
  /** false when some token counts are estimates (totals.estimatedRequests > 0) */
  tokensExact: boolean;
}
/** Cursor's own numbers; they lag about a minute. */
export interface PlanUsage {
  /** null when Cursor sent no money figures (newer accounts report percentages) */
  spentCents: number | null;
  /** the plan's limit; null or 0 when Cursor sent none */
  includedCents: number | null;
  remainingCents: number | null;
  /** share of the whole plan used, % (Cursor's, or computed from the cents) */
  totalPercentUsed: number | null;
  /** Auto + Composer and API models; empty when Cursor reports no pools */
  pools: PlanPool[];
  cycleStart: number | null;
  cycleEnd: number | null;
  fetchedAt: number;
}
/** One usage pool of the plan. */
export interface PlanPool {
  id: 'auto' | 'api';
  label: string;
  /** null when Cursor did not report this pool */
  percentUsed: number | null;
}
export interface RecentError {
  at: number;
  kind: string;
  message: string;
}
/** `text` is pretty JSON. */
export interface OpencodeSnippet {
  text: string;
  baseUrl: string;
}
export interface OpencodeInstall {
  path: string;
  backup: string | null;
  created: boolean;
}

export type ErrorKind =
  | 'not_signed_in'
  | 'session_expired'
  | 'login_cancelled'
  | 'login_timed_out'
  | 'upstream'
  | 'network'
  | 'quota'
  | 'port_in_use'
  | 'invalid_input'
  | 'io'
  | 'internal';

/** A failed command: the backend's `CommandError`, or a local stand-in with the same shape. */
export class IpcError extends Error {
  readonly kind: ErrorKind | string;
  constructor(kind: ErrorKind | string, message: string) {
    super(message);
    this.name = 'IpcError';
    this.kind = kind;
  }
}

const NO_BACKEND =
  'The Cursor Bridge backend is not reachable. Open this window from the Cursor Bridge app.';
const UNKNOWN = 'Something went wrong. The details are in the log folder.';

/**
 * Turns whatever a rejected `invoke` produced into an `IpcError`. A `CommandError` object
 * keeps its kind and message; Tauri's own failures arrive as plain strings (e.g. a missing
 * command); a thrown JS `Error` means the IPC bridge itself is missing, and its message
 * (and stack) are not for users.
 */
export function toIpcError(e: unknown): IpcError {
  if (e instanceof IpcError) return e;
  if (e && typeof e === 'object' && !(e instanceof Error)) {
    const o = e as { kind?: unknown; message?: unknown };
    if (typeof o.message === 'string' && o.message.trim() !== '') {
      return new IpcError(typeof o.kind === 'string' ? o.kind : 'internal', o.message);
    }
  }
  if (typeof e === 'string' && e.trim() !== '') return new IpcError('internal', e);
  if (e instanceof TypeError && !hasBackend()) return new IpcError('internal', NO_BACKEND);
  return new IpcError('internal', UNKNOWN);
}

/** The user-facing sentence for any error a view caught. */
export function errorMessage(e: unknown): string {
  return toIpcError(e).message;
}

function hasBackend(): boolean {
  return typeof window !== 'undefined' && !!(window as { __TAURI_INTERNALS__?: unknown }).__TAURI_INTERNALS__;
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    throw toIpcError(e);
  }
}

// ---- Commands ----

export const getStatus = () => call<Status>('get_status');
/** Resolves once the browser login is approved; rejects `login_cancelled` / `login_timed_out`. */
export const signIn = () => call<Status>('sign_in');
export const cancelSignIn = () => call<null>('cancel_sign_in');
export const signOut = () => call<Status>('sign_out');
export const listModels = (refresh = false) => call<Model[]>('list_models', { refresh });
export const getSettings = () => call<Settings>('get_settings');
/** Validated by the backend; rejects `invalid_input` naming the field. */
export const updateSettings = (settings: Settings) => call<Settings>('update_settings', { settings });
export const startProxy = () => call<Status>('start_proxy');
export const stopProxy = () => call<Status>('stop_proxy');
export const getApiKey = () => call<string>('get_api_key');
export const regenerateApiKey = () => call<string>('regenerate_api_key');
export const usageReport = (range: Range) => call<UsageReport>('usage_report', { range });
export const planUsage = () => call<PlanUsage>('plan_usage');
export const recentErrors = () => call<RecentError[]>('recent_errors');
export const opencodeSnippet = () => call<OpencodeSnippet>('opencode_snippet');
/** `path: null` lets the backend pick OpenCode's default config file. */
export const opencodeInstall = (path: string | null = null) =>
  call<OpencodeInstall>('opencode_install', { path });
/** Returns the real OS state afterwards, which may differ from what was asked. */
export const setLaunchAtLogin = (enabled: boolean) => call<boolean>('set_launch_at_login', { enabled });
export const openLogFolder = () => call<null>('open_log_folder');
/** Drops every kept conversation checkpoint (memory and disk); resolves to how many. */
export const forgetConversations = () => call<number>('forget_conversations');

// ---- Events ----

/**
 * Calls `cb` with every `status-changed` payload. Resolves to an unsubscribe function;
 * outside the app (no backend) it resolves to a no-op instead of failing the view.
 */
export async function onStatusChanged(cb: (s: Status) => void): Promise<() => void> {
  try {
    return await listen<Status>('status-changed', (e) => cb(e.payload));
  } catch {
    return () => {};
  }
}
