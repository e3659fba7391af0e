// Settings → "Connect your tools": one row per client (OpenCode, Claude Code, Codex CLI)
// with its status, Connect / Disconnect, "Preview changes" (the diff connect would make,
// the key masked by the backend) and "Copy snippet". The work is the backend's connect
// actions, the same the tray and `cursor-bridge connect` use.
import { useEffect, useState } from 'preact/hooks';
import { Card, CopyButton, ErrorNotice } from '../components/common';
import {
  clientSnippet,
  connectClient,
  connectionStatus,
  disconnectClient,
  type ConnectionStatus,
  type ConnectReport,
  type DisconnectReport,
} from '../ipc';

export function ConnectCard() {
  const [rows, setRows] = useState<ConnectionStatus[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  async function load() {
    setError(null);
    try {
      setRows(await connectionStatus());
    } catch (e) {
      setError(e);
    }
  }
  useEffect(() => {
    void load();
  }, []);
  return (
    <Card title="Connect your tools" id="connect">
      <p class="muted">
        Writes each tool's own config so it uses this proxy. Everything else in the file stays, the old
        file is backed up first, and Disconnect puts back what was there.
      </p>
      <ErrorNotice error={error} onRetry={load} />
      {rows?.map((r) => <ClientRow key={r.client} row={r} onChanged={load} />)}
    </Card>
  );
}

function describe(r: ConnectionStatus): string {
  if (!r.connected) return 'Not connected';
  return r.stale ? 'Connected to another port or key: connect again' : 'Connected';
}

function ClientRow(props: { row: ConnectionStatus; onChanged: () => void }) {
  const r = props.row;
  const [busy, setBusy] = useState(false);
  const [preview, setPreview] = useState<ConnectReport | null>(null);
  const [done, setDone] = useState<ConnectReport | DisconnectReport | null>(null);
  const [error, setError] = useState<unknown>(null);

  async function run(action: () => Promise<void>) {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }
  const showPreview = () =>
    run(async () => {
      setDone(null);
      setPreview(await connectClient(r.client, { dryRun: true }));
    });
  const connect = () =>
    run(async () => {
      setPreview(null);
      setDone(await connectClient(r.client));
      props.onChanged();
    });
  const disconnect = () =>
    run(async () => {
      setPreview(null);
      setDone(await disconnectClient(r.client));
      props.onChanged();
    });

  return (
    <div class="connect-row" role="group" aria-label={r.name}>
      <div>
        <strong>{r.name}</strong> <span class="muted">{describe(r)}</span>
        {r.path && (
          <div class="muted">
            <code>{r.path}</code>
          </div>
        )}
      </div>
      <div class="actions">
        <button type="button" onClick={connect} disabled={busy}>
          {r.connected ? 'Connect again' : 'Connect'}
        </button>
        {r.connected && (
          <button type="button" onClick={disconnect} disabled={busy}>
            Disconnect
          </button>
        )}
        <button type="button" onClick={showPreview} disabled={busy}>
          Preview changes
        </button>
        <CopyButton label="Copy snippet" text={async () => (await clientSnippet(r.client)).text} />
      </div>
      {preview && (
        <pre class="snippet" aria-label={`Changes to ${r.name}'s config`}>
          {preview.diff === '' ? 'Nothing to change: it is already connected.' : preview.diff}
        </pre>
      )}
      {done && <Outcome done={done} />}
      <ErrorNotice error={error} title={`${r.name}'s config was not changed.`} />
    </div>
  );
}

function Outcome(props: { done: ConnectReport | DisconnectReport }) {
  const d = props.done;
  const connected = 'diff' in d;
  const what = connected
    ? d.diff === ''
      ? 'Already connected; nothing written to '
      : d.created
        ? 'Created '
        : 'Updated '
    : d.removed
      ? 'Removed '
      : 'Restored ';
  return (
    <div class="notice notice-ok" role="status">
      {d.path && (
        <>
          {what}
          <code>{d.path}</code>.
        </>
      )}
      {d.backup && (
        <>
          {' '}Backup of the previous file: <code>{d.backup}</code>.
        </>
      )}
      {d.notes.map((n) => (
        <div key={n}>{n}</div>
      ))}
    </div>
  );
}
