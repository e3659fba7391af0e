// Sign in with Cursor (browser approval), wait with Cancel, then show the account.
import { useEffect, useState } from 'preact/hooks';
import { Card, ErrorNotice } from '../components/common';
import { cancelSignIn, signIn, signOut, toIpcError, type IpcError, type Status } from '../ipc';

const FRIENDLY: Record<string, string> = {
  login_timed_out: 'The sign-in was not approved in time.',
  network: 'Cursor could not be reached.',
  upstream: 'Cursor did not accept the sign-in.',
  session_expired: 'Your session expired.',
};

export function AccountView(props: { status: Status; onStatus: (s: Status) => void }) {
  // The backend owns the pending sign-in and reports it in `status.signIn` (from
  // `status-changed` and `get_status`), so leaving the screen or closing the window and
  // coming back shows the same waiting state, with Cancel and no second Sign in button.
  // `starting` only covers the moment between the click and that status arriving.
  const [starting, setStarting] = useState(false);
  const [phase, setPhase] = useState<'idle' | 'cancelling' | 'signing-out'>('idle');
  const [error, setError] = useState<IpcError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const waiting = starting || props.status.signIn != null;

  useEffect(() => {
    // However the sign-in ended (here, in another window, in the tray), Cancel is done.
    if (!waiting && phase === 'cancelling') setPhase('idle');
  }, [waiting, phase]);

  async function start() {
    setError(null);
    setNotice(null);
    setStarting(true);
    try {
      props.onStatus(await signIn());
    } catch (e) {
      const err = toIpcError(e);
      if (err.kind === 'login_cancelled') setNotice('Sign-in cancelled.');
      else setError(err);
    } finally {
      setStarting(false);
    }
  }

  async function cancel() {
    setPhase('cancelling');
    try {
      await cancelSignIn();
    } catch (e) {
      setError(toIpcError(e));
      setPhase('idle');
    }
    // The sign-in ends with login_cancelled and a status without `signIn`: back to idle.
  }

  async function out() {
    setError(null);
    setPhase('signing-out');
    try {
      props.onStatus(await signOut());
    } catch (e) {
      setError(toIpcError(e));
    } finally {
      setPhase('idle');
    }
  }

  const { status } = props;
  if (status.signedIn && !waiting) {
    return (
      <>
        <h1>Account</h1>
        <Card title="Signed in to Cursor" id="account">
          <dl class="facts">
            <dt>Email</dt>
            <dd data-testid="account-email">{status.account?.email ?? 'Unknown'}</dd>
            <dt>Plan</dt>
            <dd data-testid="account-plan">{status.account?.plan ?? 'Unknown'}</dd>
            {status.clientVersion && (
              <>
                <dt>Client version</dt>
                <dd data-testid="account-client-version">
                  <code>{status.clientVersion.version}</code>{' '}
                  <span class="muted">({status.clientVersion.sourceLabel})</span>
                </dd>
              </>
            )}
          </dl>
          <p class="muted">Your Cursor session is kept in the system keychain.</p>
          <ErrorNotice error={error} />
          <button type="button" onClick={out} disabled={phase === 'signing-out'}>
            Sign out
          </button>
        </Card>
      </>
    );
  }

  return (
    <>
      <h1>Account</h1>
      <Card title="Sign in" id="signin">
        {waiting ? (
          <div class="waiting" role="status" aria-live="polite">
            <span class="spinner" aria-hidden="true" />
            <p>Approve the sign-in in your browser…</p>
            <button type="button" onClick={cancel} disabled={phase === 'cancelling'}>
              Cancel
            </button>
          </div>
        ) : (
          <>
            <p>Sign in with your Cursor account to use its models from OpenCode and other tools.</p>
            {notice && (
              <p class="muted" role="status">
                {notice}
              </p>
            )}
            {error && (
              <ErrorNotice error={error} title={FRIENDLY[error.kind]} onRetry={start} />
            )}
            {!error && (
              <button type="button" class="primary" onClick={start}>
                Sign in with Cursor
              </button>
            )}
          </>
        )}
      </Card>
    </>
  );
}
