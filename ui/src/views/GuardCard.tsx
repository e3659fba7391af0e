// The spend guard on the Usage page: today's counts against each budget, whether Cursor
// bills on demand (its pools are in the plan card above), any trip with its numbers and a
// Resume button, and the Pause all panic button. The same App actions as the tray's items;
// it re-reads the guard whenever the status' guard summary changes (a trip, a pause, a
// resume from the tray or the CLI).
import { useEffect, useState } from 'preact/hooks';
import { Card, ErrorNotice } from '../components/common';
import { grouped, hhmm } from '../format';
import { guardPause, guardResume, guardStatus } from '../ipc';
import type { GuardStatus, Status } from '../ipc';

/** "12 of 120", or "12 (no limit)" for a budget that is off (0). */
export function budget(count: number, limit: number): string {
  return limit === 0 ? `${grouped(count)} (no limit)` : `${grouped(count)} of ${grouped(limit)}`;
}

/** The headline: why requests are refused, if they are. */
export function guardState(g: GuardStatus): string {
  if (g.paused) return 'Paused by guard: every request is refused until you resume.';
  if (g.trips.length > 0) return 'Paused by guard: requests are refused until you resume.';
  if (!g.rules.enabled) return 'Off: only Pause all refuses requests.';
  return 'On: nothing tripped.';
}

export function GuardCard(props: { status: Status }) {
  const [guard, setGuard] = useState<GuardStatus | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const summary = JSON.stringify(props.status.guard);

  useEffect(() => {
    guardStatus().then(
      (g) => {
        setGuard(g);
        setError(null);
      },
      setError,
    );
  }, [summary]);

  async function act(action: () => Promise<GuardStatus>) {
    setBusy(true);
    setError(null);
    try {
      setGuard(await action());
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  const stopped = guard != null && (guard.paused || guard.trips.length > 0);
  return (
    <Card title="Guard" id="guard" source={guard ? `Today (${guard.day}) — live` : undefined}>
      <ErrorNotice error={error} />
      {!guard ? (
        !error && <p class="muted">Loading the guard…</p>
      ) : (
        <>
          <p data-testid="guard-state" class={stopped ? 'notice notice-warn' : undefined}>
            {guardState(guard)}
          </p>
          <table class="guard-budgets">
            <tbody>
              <tr>
                <th scope="row">Requests in the last minute</th>
                <td data-testid="guard-per-minute">{budget(guard.requestsLastMinute, guard.rules.requestsPerMinute)}</td>
              </tr>
              <tr>
                <th scope="row">Requests today</th>
                <td data-testid="guard-requests">{budget(guard.requestsToday, guard.rules.dailyRequests)}</td>
              </tr>
              <tr>
                <th scope="row">Tokens today</th>
                <td data-testid="guard-tokens">{budget(guard.tokensToday, guard.rules.dailyTokens)}</td>
              </tr>
              <tr>
                <th scope="row">Cursor billing</th>
                <td data-testid="guard-on-demand">
                  {guard.onDemand ? 'on demand: the included usage is used up' : 'within the included usage'}
                  {` (${guard.rules.onDemand})`}
                </td>
              </tr>
            </tbody>
          </table>
          {guard.trips.length > 0 && (
            <ul class="guard-trips" data-testid="guard-trips">
              {guard.trips.map((t) => (
                <li key={t.rule}>
                  <strong>
                    {t.rule} at {hhmm(t.atMs)}: {grouped(t.count)} of {grouped(t.limit)}, {grouped(t.refused)} refused
                  </strong>
                  <p>{t.message}</p>
                </li>
              ))}
            </ul>
          )}
          <div class="actions">
            {stopped ? (
              <button type="button" class="primary" disabled={busy} onClick={() => act(guardResume)}>
                Resume
              </button>
            ) : (
              <button type="button" disabled={busy} onClick={() => act(guardPause)}>
                Pause all
              </button>
            )}
          </div>
        </>
      )}
    </Card>
  );
}
