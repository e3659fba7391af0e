// Small shared pieces: error notices, async state helper, copy button.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { errorMessage } from '../ipc';

/** Shows an error's user-facing sentence (never a stack) in an alert region. */
export function ErrorNotice(props: { error: unknown; onRetry?: () => void; title?: string }) {
  if (props.error == null) return null;
  return (
    <div class="notice notice-error" role="alert">
      <div>
        {props.title && <strong>{props.title} </strong>}
        {errorMessage(props.error)}
      </div>
      {props.onRetry && (
        <button type="button" onClick={props.onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Card(props: { title: string; source?: ComponentChildren; children: ComponentChildren; id?: string }) {
  const headingId = props.id ? `${props.id}-title` : undefined;
  return (
    <section class="card" aria-labelledby={headingId} id={props.id}>
      <header class="card-head">
        <h2 id={headingId}>{props.title}</h2>
        {props.source && <span class="source">{props.source}</span>}
      </header>
      {props.children}
    </section>
  );
}

/** Copies text with the async Clipboard API and says so; failures are shown, not thrown. */
export function CopyButton(props: { text: () => string | Promise<string>; label: string; disabled?: boolean }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  async function copy() {
    try {
      await navigator.clipboard.writeText(await props.text());
      setState('copied');
    } catch {
      setState('failed');
    }
    setTimeout(() => setState('idle'), 2000);
  }
  return (
    <>
      <button type="button" onClick={copy} disabled={props.disabled}>
        {props.label}
      </button>
      <span class="copy-state" role="status" aria-live="polite">
        {state === 'copied' ? 'Copied' : state === 'failed' ? 'Could not copy to the clipboard' : ''}
      </span>
    </>
  );
}
