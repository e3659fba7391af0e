// The window: a status bar (from get_status + `status-changed`), a sidebar, one screen.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ErrorNotice } from './components/common';
import { getStatus, onStatusChanged, type Status } from './ipc';
import { SCREENS, type Screen } from './screens';
import { StatusBar } from './views/StatusBar';
import { AccountView } from './views/Account';
import { ModelsView } from './views/Models';
import { UsageView } from './views/Usage';
import { SettingsView } from './views/Settings';

export function App(props: { initialScreen?: Screen }) {
  const [status, setStatus] = useState<Status | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [screen, setScreen] = useState<Screen | null>(props.initialScreen ?? null);
  const mainRef = useRef<HTMLElement>(null);

  async function load() {
    setLoadError(null);
    try {
      const s = await getStatus();
      setStatus(s);
      // First screen: sign in when signed out, otherwise what people come back for.
      setScreen((cur) => cur ?? (s.signedIn ? 'usage' : 'account'));
    } catch (e) {
      setLoadError(e);
    }
  }

  useEffect(() => {
    void load();
    let unlisten: (() => void) | null = null;
    let gone = false;
    void onStatusChanged((s) => setStatus(s)).then((u) => (gone ? u() : (unlisten = u)));
    return () => {
      gone = true;
      unlisten?.();
    };
  }, []);

  function go(id: Screen) {
    setScreen(id);
    // Move focus to the new screen so keyboard and screen-reader users land in it.
    requestAnimationFrame(() => mainRef.current?.focus());
  }

  const current = screen ?? 'account';
  return (
    <div class="shell">
      <StatusBar status={status} onStatus={setStatus} />
      <div class="body">
        <nav class="sidebar" aria-label="Sections">
          <ul>
            {SCREENS.map((s) => (
              <li key={s.id}>
                <button
                  type="button"
                  class="nav-item"
                  aria-current={current === s.id ? 'page' : undefined}
                  onClick={() => go(s.id)}
                >
                  {s.label}
                </button>
              </li>
            ))}
          </ul>
          {status && (
            <p class="version" data-testid="version">
              v{status.version} ({status.commit})
            </p>
          )}
        </nav>
        <main ref={mainRef} tabIndex={-1} class="content" aria-label={SCREENS.find((s) => s.id === current)!.label}>
          {loadError ? (
            <ErrorNotice error={loadError} title="Could not reach Cursor Bridge." onRetry={load} />
          ) : !status ? (
            <p class="muted">Loading…</p>
          ) : current === 'account' ? (
            <AccountView status={status} onStatus={setStatus} />
          ) : current === 'models' ? (
            <ModelsView signedIn={status.signedIn} />
          ) : current === 'usage' ? (
            <UsageView status={status} onStatus={setStatus} onGo={go} />
          ) : (
            <SettingsView status={status} onStatus={setStatus} />
          )}
        </main>
      </div>
    </div>
  );
}
