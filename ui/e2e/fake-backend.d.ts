// Types for the fake backend (fake-backend.js, a classic script with side effects only):
// what it reads from and adds to `window`. Its handlers are typed by `Commands` of
// src/ipc.ts, whose types are generated from the Rust contract.
import type { Command, Commands, ArgsOf } from '../src/ipc';

/** Set before the script runs (`page.addInitScript`), or from `?signedIn=1&empty=1`. */
export interface FakeOptions {
  signedIn: boolean;
  empty: boolean;
  /** When a sign-in approves itself; negative: only `__fake.approveSignIn()` does. */
  signInDelayMs: number;
  /** The kind the next sign-in fails with (the one after it succeeds). */
  signInError: string | null;
}

/** One handler per command of docs/IPC.md, answering what the real shell answers. */
export type FakeHandlers = {
  [C in Command]: (args: ArgsOf<C>) => Commands[C]['returns'] | Promise<Commands[C]['returns']>;
};

/** What the Playwright specs drive the fake with. */
export interface FakeHooks {
  /** The fake's own state, for a spec that needs to look (its shape is the fake's business). */
  state: unknown;
  calls: { cmd: string; args: Record<string, unknown> }[];
  approveSignIn(): void;
  setProxy(state: 'running' | 'stopped' | 'error'): void;
}

declare global {
  interface Window {
    __TAURI_INTERNALS__?: Record<string, unknown> & { __fake?: boolean };
    __TAURI_EVENT_PLUGIN_INTERNALS__?: Record<string, unknown>;
    __FAKE_BACKEND__?: Partial<FakeOptions>;
    __fake?: FakeHooks;
  }
}
