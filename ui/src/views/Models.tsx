// The model catalogue: filter, limits, reasoning badge, and the default used for `auto`.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ErrorNotice } from '../components/common';
import { compactNumber, grouped } from '../format';
import { getSettings, listModels, updateSettings, type Model, type Settings } from '../ipc';

export function ModelsView(props: { signedIn: boolean }) {
  const [models, setModels] = useState<Model[] | null>(null);
  const [settings, setSettings] = useState<Settings | null>(null);
  const [query, setQuery] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [saveError, setSaveError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);

  async function load(refresh: boolean) {
    setBusy(true);
    setError(null);
    try {
      const [m, s] = await Promise.all([listModels(refresh), getSettings()]);
      setModels(m);
      setSettings(s);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  useEffect(() => {
    void load(false);
  }, [props.signedIn]);

  const shown = useMemo(() => {
    const q = query.trim().toLowerCase();
    if (!models) return [];
    if (!q) return models;
    return models.filter((m) =>
      [m.id, m.name, ...m.aliases].some((s) => s.toLowerCase().includes(q)),
    );
  }, [models, query]);

  async function choose(id: string) {
    if (!settings || settings.defaultModel === id) return;
    setSaveError(null);
    setSaved(null);
    const previous = settings;
    setSettings({ ...settings, defaultModel: id }); // optimistic; reverted on failure
    try {
      const next = await updateSettings({ ...previous, defaultModel: id });
      setSettings(next);
      setSaved(`Default model set to ${id}.`);
    } catch (e) {
      setSettings(previous);
      setSaveError(e);
    }
  }

  return (
    <>
      <div class="title-row">
        <h1>Models</h1>
        <button type="button" onClick={() => load(true)} disabled={busy}>
          {busy ? 'Refreshing…' : 'Refresh'}
        </button>
      </div>
      <p class="muted">
        The default model answers requests for <code>auto</code>. Limits feed OpenCode's context
        compaction.
      </p>
      <label class="search">
        <span>Filter models</span>
        <input
          type="search"
          value={query}
          placeholder="Name, id or alias"
          onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
        />
      </label>
      <ErrorNotice error={error} onRetry={() => load(false)} />
      <ErrorNotice error={saveError} title="The default model was not saved." />
      <p class="muted list-status" role="status" aria-live="polite">
        <span>{models ? `${shown.length} of ${models.length} models` : busy ? 'Loading models…' : ''}</span>
        {saved && <span class="saved">{saved}</span>}
      </p>
      {models && (
        <fieldset class="models">
          <legend class="sr-only">Default model</legend>
          {shown.length === 0 && <p class="muted">No model matches “{query}”.</p>}
          {shown.map((m) => {
            const isDefault = settings?.defaultModel === m.id;
            return (
              <label class={`model ${isDefault ? 'is-default' : ''}`} key={m.id} data-model={m.id}>
                <input
                  type="radio"
                  name="default-model"
                  value={m.id}
                  checked={isDefault}
                  disabled={!settings}
                  onChange={() => choose(m.id)}
                  aria-describedby={`model-${m.id}-meta`}
                />
                <span class="model-main">
                  <span class="model-name">{m.name}</span>
                  <code class="model-id">{m.id}</code>
                </span>
                <span class="model-meta" id={`model-${m.id}-meta`}>
                  <span title={`Context ${grouped(m.contextLimit)} tokens, output ${grouped(m.outputLimit)}${m.limitSource === 'default' ? ' (default guess)' : ''}`}>
                    {compactNumber(m.contextLimit)} context · {compactNumber(m.outputLimit)} out
                    {m.limitSource === 'default' && <span class="muted"> (est.)</span>}
                  </span>
                  {m.reasoning && <span class="badge">reasoning</span>}
                  {m.supportsImages && <span class="badge badge-alt">images</span>}
                  {isDefault && <span class="badge badge-default">default</span>}
                </span>
              </label>
            );
          })}
        </fieldset>
      )}
    </>
  );
}
