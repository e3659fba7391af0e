// The only module that talks to the backend (docs/IPC.md is the contract).
//
// Every command is a typed wrapper over Tauri's `invoke`; every failure becomes an
// `IpcError` carrying the backend's `CommandError` `{kind, message}` so views can show
// `message` (a sentence for the user) and never a stack trace. Views import from here,
// never from `@tauri-apps/*`.
import { invoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';

// ---- Types ----
// Generated from the Rust side of the contract (core/src/app/ipc.rs) into
// generated/ipc.ts, never copied by hand: a renamed field breaks `tsc` here and in the
// fake backends. Regenerate with `UPDATE_IPC_TYPES=1 cargo test -p cursor-bridge-core --lib ipc_types`.
export type * from './generated/ipc';
import type {
  Client,
  ClientSnippet,
  ConnectionStatus,
  ConnectChoice,
  ConnectReport,
  DisconnectReport,
  ErrorKind,
  GuardStatus,
  Model,
  OpencodeInstall,
  OpencodeSnippet,
  PlanUsage,
  Range,
  RecentError,
  Settings,
  Status,
  UsageReport,
} from './generated/ipc';

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

/**
 * Every command of docs/IPC.md: its arguments and what it resolves to. The wrappers below
 * and the fake backends (e2e/fake-backend.js, test/backend.ts) are typed by this one table.
 */
export interface Commands {
  get_status: { args: void; returns: Status };
  sign_in: { args: void; returns: Status };
  cancel_sign_in: { args: void; returns: null };
  sign_out: { args: void; returns: Status };
  list_models: { args: { refresh: boolean }; returns: Model[] };
  get_settings: { args: void; returns: Settings };
  update_settings: { args: { settings: Settings }; returns: Settings };
  start_proxy: { args: void; returns: Status };
  stop_proxy: { args: void; returns: Status };
  get_api_key: { args: void; returns: string };
  regenerate_api_key: { args: void; returns: string };
  usage_report: { args: { range: Range }; returns: UsageReport };
  plan_usage: { args: void; returns: PlanUsage };
  recent_errors: { args: void; returns: RecentError[] };
  opencode_snippet: { args: void; returns: OpencodeSnippet };
  opencode_install: { args: void; returns: OpencodeInstall };
  connect_client: { args: { client: Client; options: Partial<ConnectChoice> }; returns: ConnectReport };
  disconnect_client: { args: { client: Client }; returns: DisconnectReport };
  connection_status: { args: void; returns: ConnectionStatus[] };
  client_snippet: { args: { client: Client }; returns: ClientSnippet };
  set_launch_at_login: { args: { enabled: boolean }; returns: boolean };
  open_log_folder: { args: void; returns: null };
  forget_conversations: { args: void; returns: number };
  guard_status: { args: void; returns: GuardStatus };
  guard_pause: { args: void; returns: GuardStatus };
  guard_resume: { args: void; returns: GuardStatus };
}
export type Command = keyof Commands;
/** What a command's arguments are (`{}` for a command without any). */
export type ArgsOf<C extends Command> = Commands[C]['args'] extends void ? Record<string, never> : Commands[C]['args'];

async function call<C extends Command>(
  cmd: C,
  ...args: Commands[C]['args'] extends void ? [] : [Commands[C]['args']]
): Promise<Commands[C]['returns']> {
  try {
    // The table above types the arguments; `invoke` only needs them as a plain object.
    return await invoke<Commands[C]['returns']>(cmd, args[0] as Record<string, unknown> | undefined);
  } catch (e) {
    throw toIpcError(e);
  }
}

// ---- Commands ----

export const getStatus = () => call('get_status');
/** Resolves once the browser login is approved; rejects `login_cancelled` / `login_timed_out`. */
export const signIn = () => call('sign_in');
export const cancelSignIn = () => call('cancel_sign_in');
export const signOut = () => call('sign_out');
export const listModels = (refresh = false) => call('list_models', { refresh });
export const getSettings = () => call('get_settings');
/** Validated by the backend; rejects `invalid_input` naming the field. */
export const updateSettings = (settings: Settings) => call('update_settings', { settings });
export const startProxy = () => call('start_proxy');
export const stopProxy = () => call('stop_proxy');
export const getApiKey = () => call('get_api_key');
export const regenerateApiKey = () => call('regenerate_api_key');
export const usageReport = (range: Range) => call('usage_report', { range });
export const planUsage = () => call('plan_usage');
export const recentErrors = () => call('recent_errors');
export const opencodeSnippet = () => call('opencode_snippet');
/** Merges our provider into OpenCode's own global config (the backend finds the file). */
export const opencodeInstall = () => call('opencode_install');
/** Writes the client's own config (or, `dryRun`, only returns the diff); options left out take their defaults. */
export const connectClient = (client: Client, options: Partial<ConnectChoice> = {}) =>
  call('connect_client', { client, options });
/** Undoes `connectClient`: what it added goes, what it replaced comes back. */
export const disconnectClient = (client: Client) => call('disconnect_client', { client });
/** One row per client: its config path, connected, stale. */
export const connectionStatus = () => call('connection_status');
/** The paste-ready snippet (it holds the key). */
export const clientSnippet = (client: Client) => call('client_snippet', { client });
/** Returns the real OS state afterwards, which may differ from what was asked. */
export const setLaunchAtLogin = (enabled: boolean) => call('set_launch_at_login', { enabled });
export const openLogFolder = () => call('open_log_folder');
/** Drops every kept conversation checkpoint (memory and disk); resolves to how many. */
export const forgetConversations = () => call('forget_conversations');
/** The spend guard: its rules, today's counts, any trip. */
export const guardStatus = () => call('guard_status');
/** "Pause all": every request is refused (403) until resumed. */
export const guardPause = () => call('guard_pause');
/** Clears the pause and every trip. */
export const guardResume = () => call('guard_resume');

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
