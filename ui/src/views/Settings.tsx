// Settings: where the proxy listens and how it reaches Cursor, the local API key, startup,
// OpenCode, logs and errors.
import { useEffect, useState } from 'preact/hooks';
import { Card, CopyButton, ErrorNotice } from '../components/common';
import { dateTime, isLoopbackHost } from '../format';
import { ConnectCard } from './Connect';
import {
  forgetConversations,
  getApiKey,
  getSettings,
  opencodeInstall,
  opencodeSnippet,
  openLogFolder,
  recentErrors,
  regenerateApiKey,
  setLaunchAtLogin,
  updateSettings,
  type OpencodeInstall,
  type OpencodeSnippet,
  type AgentTransport,
  type OnDemand,
  type RecentError,
  type Settings,
  type Status,
} from '../ipc';

export function SettingsView(props: { status: Status; onStatus: (s: Status) => void }) {
  const [apiKey, setApiKey] = useState<string | null>(null);
  useEffect(() => {
    getApiKey().then(setApiKey, () => setApiKey(null));
  }, []);
  return (
    <>
      <h1>Settings</h1>
      <ProxySettings />
      <ApiKeyCard apiKey={apiKey} onKey={setApiKey} />
      <StartupCard status={props.status} onStatus={props.onStatus} />
      <OpencodeCard apiKey={apiKey} />
      <ConnectCard />
      <ConversationsCard />
      <LogsCard />
    </>
  );
}

const TRANSPORTS: { value: AgentTransport; label: string }[] = [
  { value: 'http2', label: 'HTTP/2 (default, fastest)' },
  { value: 'http1', label: 'HTTP/1.1 (for proxies and firewalls that break HTTP/2)' },
];

function ProxySettings() {
  const [saved, setSaved] = useState<Settings | null>(null);
  const [draft, setDraft] = useState<Settings | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [saveError, setSaveError] = useState<unknown>(null);
  const [confirmExposed, setConfirmExposed] = useState(false);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);

  async function load() {
    setLoadError(null);
    try {
      const s = await getSettings();
      setSaved(s);
      setDraft(s);
    } catch (e) {
      setLoadError(e);
    }
  }
  useEffect(() => {
    void load();
  }, []);

  if (loadError != null) return <ErrorNotice error={loadError} onRetry={load} />;
  if (!draft || !saved) return <p class="muted">Loading settings…</p>;

  const exposed = !isLoopbackHost(draft.host);
  const portOk = Number.isInteger(draft.port) && draft.port >= 1 && draft.port <= 65535;
  const dirty = JSON.stringify(draft) !== JSON.stringify(saved);
  const canSave = dirty && portOk && guardOk(draft) && draft.host.trim() !== '' && (!exposed || confirmExposed) && !busy;

  function patch(p: Partial<Settings>) {
    setMessage(null);
    setDraft({ ...draft!, ...p });
  }

  async function save(e: Event) {
    e.preventDefault();
    if (!canSave) return;
    setBusy(true);
    setSaveError(null);
    try {
      const next = await updateSettings({ ...draft!, host: draft!.host.trim() });
      setSaved(next);
      setDraft(next);
      setConfirmExposed(false);
      setMessage('Saved.');
    } catch (err) {
      setSaveError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Card title="Proxy" id="proxy-settings">
      <form onSubmit={save} class="form">
        <div class="row">
          <label>
            <span>Bind address</span>
            <input
              type="text"
              name="host"
              value={draft.host}
              spellcheck={false}
              autocomplete="off"
              onInput={(e) => {
                patch({ host: (e.target as HTMLInputElement).value });
                setConfirmExposed(false);
              }}
            />
          </label>
          <label>
            <span>Port</span>
            <input
              type="number"
              name="port"
              min={1}
              max={65535}
              value={Number.isNaN(draft.port) ? '' : draft.port}
              aria-invalid={!portOk}
              onInput={(e) => patch({ port: Number.parseInt((e.target as HTMLInputElement).value, 10) })}
            />
          </label>
        </div>
        {!portOk && <p class="field-error">The port must be a number from 1 to 65535.</p>}
        {exposed && (
          <div class="notice notice-warn" role="alert" data-testid="exposed-warning">
            <p>
              <strong>{draft.host}</strong> is not a loopback address: other devices on your network
              could reach the proxy and spend your Cursor plan. Keep the API key required.
            </p>
            <label class="check">
              <input
                type="checkbox"
                checked={confirmExposed}
                onChange={(e) => setConfirmExposed((e.target as HTMLInputElement).checked)}
              />
              <span>I understand, listen on {draft.host}</span>
            </label>
          </div>
        )}
        <label class="check">
          <input
            type="checkbox"
            checked={draft.startProxyOnLaunch}
            onChange={(e) => patch({ startProxyOnLaunch: (e.target as HTMLInputElement).checked })}
          />
          <span>Start the proxy when Cursor Bridge launches</span>
        </label>
        <label class="check">
          <input
            type="checkbox"
            checked={draft.requireApiKey}
            onChange={(e) => patch({ requireApiKey: (e.target as HTMLInputElement).checked })}
          />
          <span>Require the local API key from clients</span>
        </label>
        <fieldset class="choice" aria-describedby="agent-transport-hint">
          <legend>Connection to Cursor</legend>
          {TRANSPORTS.map((t) => (
            <label class="check" key={t.value}>
              <input
                type="radio"
                name="agentTransport"
                value={t.value}
                checked={draft.agentTransport === t.value}
                onChange={() => patch({ agentTransport: t.value })}
              />
              <span>{t.label}</span>
            </label>
          ))}
          <p class="muted hint" id="agent-transport-hint">
            Try HTTP/1.1 if chats fail or break off behind a company proxy or firewall; it applies
            from the next request.
          </p>
        </fieldset>
        <GuardSettings draft={draft} patch={patch} />
        <ErrorNotice error={saveError} title="Not saved." />
        <div class="actions">
          <button type="submit" class="primary" disabled={!canSave}>
            Save
          </button>
          {dirty && (
            <button type="button" onClick={() => { setDraft(saved); setConfirmExposed(false); }}>
              Discard changes
            </button>
          )}
          <span role="status" aria-live="polite" class="muted">
            {message}
          </span>
        </div>
      </form>
    </Card>
  );
}

/** The guard's numeric settings, each a whole number from 0 (0 turns a daily budget off). */
const GUARD_NUMBERS: { key: GuardNumber; label: string; hint: string }[] = [
  { key: 'guardRepeatLimit', label: 'Same tool call in a row', hint: 'identical calls before the guard stops the agent' },
  { key: 'guardMaxToolSteps', label: 'Tool steps per turn', hint: 'tool steps without a new message from you' },
  { key: 'guardRequestsPerMinute', label: 'Requests per minute', hint: 'all clients together' },
  { key: 'guardDailyRequests', label: 'Requests per day', hint: '0 = no limit' },
  { key: 'guardDailyTokens', label: 'Tokens per day', hint: '0 = no limit' },
];
type GuardNumber = 'guardRepeatLimit' | 'guardMaxToolSteps' | 'guardRequestsPerMinute' | 'guardDailyRequests' | 'guardDailyTokens';

const ON_DEMAND: { value: OnDemand; label: string }[] = [
  { value: 'allow', label: 'Allow' },
  { value: 'warn', label: 'Warn once' },
  { value: 'block', label: 'Block' },
];

function guardOk(s: Settings): boolean {
  return GUARD_NUMBERS.every(({ key }) => Number.isInteger(s[key]) && s[key] >= 0);
}

/** The seven guard settings, part of the Proxy form (saved with it; a change restarts the proxy). */
function GuardSettings(props: { draft: Settings; patch: (p: Partial<Settings>) => void }) {
  const { draft, patch } = props;
  return (
    <fieldset class="choice" data-testid="guard-settings">
      <legend>Guard</legend>
      <label class="check">
        <input
          type="checkbox"
          name="guardEnabled"
          checked={draft.guardEnabled}
          onChange={(e) => patch({ guardEnabled: (e.target as HTMLInputElement).checked })}
        />
        <span>Stop runaway agents and spending (the guard)</span>
      </label>
      {GUARD_NUMBERS.map((f) => (
        <label key={f.key}>
          <span>
            {f.label} <span class="muted">({f.hint})</span>
          </span>
          <input
            type="number"
            name={f.key}
            min={0}
            value={Number.isNaN(draft[f.key]) ? '' : draft[f.key]}
            aria-invalid={!(Number.isInteger(draft[f.key]) && draft[f.key] >= 0)}
            onInput={(e) => patch({ [f.key]: Number.parseInt((e.target as HTMLInputElement).value, 10) })}
          />
        </label>
      ))}
      {!guardOk(draft) && <p class="field-error">Guard limits must be whole numbers, 0 or more.</p>}
      <span>When Cursor starts billing on demand</span>
      {ON_DEMAND.map((o) => (
        <label class="check" key={o.value}>
          <input
            type="radio"
            name="guardOnDemand"
            value={o.value}
            checked={draft.guardOnDemand === o.value}
            onChange={() => patch({ guardOnDemand: o.value })}
          />
          <span>{o.label}</span>
        </label>
      ))}
    </fieldset>
  );
}

function mask(key: string): string {
  return key.length <= 8 ? '••••••••' : `${key.slice(0, 4)}${'•'.repeat(12)}${key.slice(-4)}`;
}

function ApiKeyCard(props: { apiKey: string | null; onKey: (k: string) => void }) {
  const [shown, setShown] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [message, setMessage] = useState<string | null>(null);
  const key = props.apiKey;

  async function regenerate() {
    setError(null);
    try {
      props.onKey(await regenerateApiKey());
      setMessage('New key created. Update your clients (copy the OpenCode config again).');
    } catch (e) {
      setError(e);
    } finally {
      setConfirming(false);
    }
  }

  return (
    <Card title="Local API key" id="api-key">
      <p class="muted">Clients send this key to the proxy. It is unique to this install.</p>
      <div class="key-row">
        <code class="key" data-testid="api-key" aria-label={shown ? 'API key' : 'API key (hidden)'}>
          {key == null ? '…' : shown ? key : mask(key)}
        </code>
        <button type="button" onClick={() => setShown(!shown)} aria-pressed={shown} disabled={key == null}>
          {shown ? 'Hide' : 'Show'}
        </button>
        <CopyButton label="Copy key" text={() => key ?? ''} disabled={key == null} />
      </div>
      {confirming ? (
        <div class="notice notice-warn" role="alert">
          <p>Clients using the current key will be refused until you give them the new one.</p>
          <div class="actions">
            <button type="button" class="danger" onClick={regenerate}>
              Regenerate key
            </button>
            <button type="button" onClick={() => setConfirming(false)}>
              Keep current key
            </button>
          </div>
        </div>
      ) : (
        <button type="button" onClick={() => { setMessage(null); setConfirming(true); }}>
          Regenerate…
        </button>
      )}
      <ErrorNotice error={error} />
      {message && <p role="status" class="muted">{message}</p>}
    </Card>
  );
}

function StartupCard(props: { status: Status; onStatus: (s: Status) => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [note, setNote] = useState<string | null>(null);
  const enabled = props.status.launchAtLogin;

  async function toggle(want: boolean) {
    setBusy(true);
    setError(null);
    setNote(null);
    try {
      const real = await setLaunchAtLogin(want);
      props.onStatus({ ...props.status, launchAtLogin: real });
      if (real !== want) setNote(`Your system kept launch at login ${real ? 'on' : 'off'}.`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Card title="Startup" id="startup">
      <label class="check">
        <input
          type="checkbox"
          checked={enabled}
          disabled={busy}
          onChange={(e) => toggle((e.target as HTMLInputElement).checked)}
        />
        <span>Launch Cursor Bridge at login</span>
      </label>
      <p class="muted" role="status" aria-live="polite">
        {note ?? `Launch at login is ${enabled ? 'on' : 'off'} (as reported by your system).`}
      </p>
      <ErrorNotice error={error} />
    </Card>
  );
}

function OpencodeCard(props: { apiKey: string | null }) {
  const [snippet, setSnippet] = useState<OpencodeSnippet | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [installError, setInstallError] = useState<unknown>(null);
  const [installed, setInstalled] = useState<OpencodeInstall | null>(null);
  const [busy, setBusy] = useState(false);

  async function load() {
    setError(null);
    try {
      setSnippet(await opencodeSnippet());
    } catch (e) {
      setError(e);
    }
  }
  useEffect(() => {
    void load();
  }, [props.apiKey]);

  async function install() {
    setBusy(true);
    setInstallError(null);
    setInstalled(null);
    try {
      setInstalled(await opencodeInstall());
    } catch (e) {
      setInstallError(e);
    } finally {
      setBusy(false);
    }
  }

  // The preview hides the key; the copied text carries it.
  const preview = snippet && props.apiKey ? snippet.text.split(props.apiKey).join(mask(props.apiKey)) : snippet?.text;

  return (
    <Card title="OpenCode" id="opencode">
      <p class="muted">
        A provider block for <code>opencode.json</code> with every model and its limits.
        “Add to OpenCode” merges it into your config, keeps comments and other providers, and
        backs the file up first.
      </p>
      <ErrorNotice error={error} onRetry={load} />
      {preview && (
        <pre class="snippet" aria-label="OpenCode config preview" data-testid="snippet-preview">
          {preview}
        </pre>
      )}
      <div class="actions">
        <CopyButton
          label="Copy OpenCode config"
          disabled={!snippet && error != null}
          text={async () => (snippet ?? (await opencodeSnippet())).text}
        />
        <button type="button" onClick={install} disabled={busy}>
          {busy ? 'Adding…' : 'Add to OpenCode'}
        </button>
      </div>
      {installed && (
        <div class="notice notice-ok" role="status">
          {installed.created ? 'Created ' : 'Updated '}
          <code>{installed.path}</code>.
          {installed.backup ? (
            <>
              {' '}Backup of the previous file: <code>{installed.backup}</code>.
            </>
          ) : null}
        </div>
      )}
      <ErrorNotice error={installError} title="OpenCode's config was not changed." />
    </Card>
  );
}

// The kept conversation checkpoints hold the user's prompts and code: say so, and let them
// be dropped in one click (the CLI's `cursor-bridge forget` does the same on disk).
function ConversationsCard() {
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [message, setMessage] = useState<string | null>(null);

  async function forget() {
    setError(null);
    try {
      const n = await forgetConversations();
      setMessage(n === 1 ? 'Forgot 1 conversation.' : `Forgot ${n} conversations.`);
    } catch (e) {
      setError(e);
    } finally {
      setConfirming(false);
    }
  }

  return (
    <Card title="Conversation history" id="conversations">
      <p class="muted">
        So the next turn of a chat continues where Cursor left off, the proxy keeps the last
        checkpoint of each finished conversation (your prompts, code and answers) for 24 hours, on
        this computer only.
      </p>
      {confirming ? (
        <div class="notice notice-warn" role="alert">
          <p>Ongoing chats keep working; their next turn is rebuilt from the history your client sends.</p>
          <div class="actions">
            <button type="button" class="danger" onClick={forget}>
              Forget conversations
            </button>
            <button type="button" onClick={() => setConfirming(false)}>
              Keep them
            </button>
          </div>
        </div>
      ) : (
        <button type="button" onClick={() => { setMessage(null); setConfirming(true); }}>
          Forget conversations…
        </button>
      )}
      <ErrorNotice error={error} />
      {message && <p role="status" class="muted">{message}</p>}
    </Card>
  );
}

function LogsCard() {
  const [errors, setErrors] = useState<RecentError[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [openError, setOpenError] = useState<unknown>(null);

  async function load() {
    setError(null);
    try {
      setErrors(await recentErrors());
    } catch (e) {
      setError(e);
    }
  }
  useEffect(() => {
    void load();
  }, []);

  return (
    <Card title="Logs and recent errors" id="logs">
      <div class="actions">
        <button type="button" onClick={() => openLogFolder().then(() => setOpenError(null), setOpenError)}>
          Open log folder
        </button>
        <button type="button" onClick={load}>
          Refresh errors
        </button>
      </div>
      <ErrorNotice error={openError} />
      <ErrorNotice error={error} onRetry={load} />
      {errors && errors.length === 0 && <p class="muted">No errors recorded.</p>}
      {errors && errors.length > 0 && (
        <ul class="errors">
          {errors.map((e, i) => (
            <li key={`${e.at}-${i}`}>
              <time dateTime={new Date(e.at).toISOString()}>{dateTime(e.at)}</time>
              <span class="badge badge-warn">{e.kind}</span>
              <span class="badge" title="The API the request spoke, and its client">
                {e.dialect} · {e.client ?? '(unknown)'}
              </span>
              <span>{e.message}</span>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}
