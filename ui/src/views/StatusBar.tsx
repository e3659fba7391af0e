// The header: proxy state with Start/Stop and the base URL; who is signed in.
import { useState } from 'preact/hooks';
import { ErrorNotice } from '../components/common';
import { startProxy, stopProxy, type Status } from '../ipc';

const STATE_LABEL = { running: 'Proxy running', stopped: 'Proxy stopped', error: 'Proxy error' } as const;

export function StatusBar(props: { status: Status | null; onStatus: (s: Status) => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const s = props.status;

  async function toggle() {
    if (!s) return;
    setBusy(true);
    setError(null);
    try {
      props.onStatus(await (s.proxy.state === 'running' ? stopProxy() : startProxy()));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <header class="statusbar">
      <div class="brand">Cursor Bridge</div>
      {s && (
        <div class="proxy" data-state={s.proxy.state}>
          <span class="dot" aria-hidden="true" />
          <span class="proxy-state" role="status" aria-live="polite">
            {STATE_LABEL[s.proxy.state]}
          </span>
          {s.proxy.state === 'running' && <code class="base-url">{s.proxy.baseUrl}</code>}
          <button type="button" onClick={toggle} disabled={busy}>
            {s.proxy.state === 'running' ? 'Stop' : 'Start'}
          </button>
        </div>
      )}
      <div class="who">
        {s?.signedIn ? (s.account?.email ?? 'Signed in') : s ? 'Not signed in' : ''}
      </div>
      {s?.proxy.state === 'error' && s.proxy.error && (
        <div class="notice notice-error statusbar-error" role="alert">
          {s.proxy.error}
        </div>
      )}
      {error != null && (
        <div class="statusbar-error">
          <ErrorNotice error={error} />
        </div>
      )}
    </header>
  );
}
