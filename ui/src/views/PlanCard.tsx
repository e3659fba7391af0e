// Cursor's plan usage for the billing cycle: the whole plan and its two pools (Auto +
// Composer, third-party API models). Cursor may send money (cents), percentages, or both;
// whatever is missing is left out rather than shown as zero, so it never reads "$0 of $0".
import { Card, ErrorNotice } from '../components/common';
import { dollars, hhmm, shortDate } from '../format';
import type { PlanPool, PlanUsage } from '../ipc';

/** "62%" or "62.5%"; percentages above 100 (an overspent pool) are shown as they are. */
export function percent(p: number): string {
  const r = Math.round(p * 10) / 10;
  return `${Number.isInteger(r) ? r.toFixed(0) : r.toFixed(1)}%`;
}

/** The headline: money against a real limit, else Cursor's percentage, else the spend. */
export function planSummary(plan: PlanUsage): string | null {
  const limit = plan.includedCents != null && plan.includedCents > 0 ? plan.includedCents : null;
  if (limit != null && plan.spentCents != null) {
    return `${dollars(plan.spentCents)} of ${dollars(limit)} used`;
  }
  if (plan.totalPercentUsed != null) return `${percent(plan.totalPercentUsed)} of the plan used`;
  if (plan.spentCents != null && plan.spentCents > 0) return `${dollars(plan.spentCents)} spent`;
  return null;
}

function Meter(props: { value: number; label: string }) {
  return (
    <meter
      class="plan-meter"
      min={0}
      max={100}
      value={Math.max(0, Math.min(props.value, 100))}
      high={80}
      aria-label={props.label}
    />
  );
}

function Pool(props: { pool: PlanPool }) {
  const { pool } = props;
  return (
    <li data-testid={`plan-pool-${pool.id}`}>
      <span class="plan-pool-label">{pool.label}</span>
      {pool.percentUsed == null ? (
        <span class="muted">not reported</span>
      ) : (
        <>
          <Meter value={pool.percentUsed} label={`${pool.label}: share used`} />
          <span class="plan-pool-value">{percent(pool.percentUsed)}</span>
        </>
      )}
    </li>
  );
}

export function PlanCard(props: { plan: PlanUsage | null; error: unknown; signedIn: boolean; onRetry: () => void }) {
  const { plan } = props;
  const source = plan ? `Cursor — may lag ~1 min, fetched ${hhmm(plan.fetchedAt)}` : 'Cursor — may lag ~1 min';
  return (
    <Card title="Cursor plan usage" id="plan" source={source}>
      {!props.signedIn ? (
        <p class="muted">Sign in to see your plan's usage for this billing cycle.</p>
      ) : props.error != null ? (
        <ErrorNotice error={props.error} onRetry={props.onRetry} />
      ) : !plan ? (
        <p class="muted">Loading…</p>
      ) : (
        <PlanBody plan={plan} />
      )}
    </Card>
  );
}

function PlanBody(props: { plan: PlanUsage }) {
  const { plan } = props;
  const limit = plan.includedCents != null && plan.includedCents > 0 ? plan.includedCents : null;
  const summary = planSummary(plan);
  const share =
    limit != null && plan.spentCents != null ? (plan.spentCents / limit) * 100 : plan.totalPercentUsed;
  return (
    <>
      {summary == null && plan.pools.length === 0 ? (
        <p class="muted" data-testid="plan-summary">
          Cursor reported no usage numbers for this billing cycle.
        </p>
      ) : (
        summary != null && <p data-testid="plan-summary">{summary}</p>
      )}
      {share != null && <Meter value={share} label="Share of the plan used" />}
      {(plan.spentCents != null || limit != null) && (
        <dl class="facts facts-row">
          {plan.spentCents != null && (
            <>
              <dt>Spent</dt>
              <dd data-testid="plan-spent">{dollars(plan.spentCents)}</dd>
            </>
          )}
          {limit != null && (
            <>
              <dt>Included</dt>
              <dd>{dollars(limit)}</dd>
              <dt>Remaining</dt>
              <dd>{plan.remainingCents == null ? '—' : dollars(plan.remainingCents)}</dd>
            </>
          )}
        </dl>
      )}
      {plan.pools.length > 0 && (
        <ul class="plan-pools" aria-label="Usage pools">
          {plan.pools.map((p) => (
            <Pool key={p.id} pool={p} />
          ))}
        </ul>
      )}
      {plan.cycleStart != null && plan.cycleEnd != null && (
        <p class="muted">
          Billing cycle {shortDate(plan.cycleStart)} – {shortDate(plan.cycleEnd)}
        </p>
      )}
    </>
  );
}
