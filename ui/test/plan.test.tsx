import { render, screen } from '@testing-library/preact';
import { describe, expect, it } from 'vitest';
import { App } from '../src/app';
import type { PlanUsage } from '../src/ipc';
import { percent, planSummary } from '../src/views/PlanCard';
import { mockBackend } from './backend';

const base: PlanUsage = {
  spentCents: null,
  includedCents: null,
  remainingCents: null,
  totalPercentUsed: null,
  pools: [],
  cycleStart: null,
  cycleEnd: null,
  fetchedAt: Date.UTC(2026, 10, 20, 14, 29),
};
const pools = (auto: number | null, api: number | null): PlanUsage['pools'] => [
  { id: 'auto', label: 'Auto + Composer', percentUsed: auto },
  { id: 'api', label: 'API models', percentUsed: api },
];

async function showPlan(plan: PlanUsage) {
  mockBackend({ plan_usage: () => plan });
  render(<App initialScreen="usage" />);
  return screen.findByTestId('plan-summary');
}

describe('plan usage pools', () => {
  it('percentages only: shows the total and both pools, never "0 of 0"', async () => {
    const summary = await showPlan({ ...base, includedCents: 0, remainingCents: 0, totalPercentUsed: 62, pools: pools(40, 85.25) });
    expect(summary.textContent).toBe('62% of the plan used');
    expect(screen.getByTestId('plan-pool-auto').textContent).toContain('Auto + Composer');
    expect(screen.getByTestId('plan-pool-auto').textContent).toContain('40%');
    expect(screen.getByTestId('plan-pool-api').textContent).toContain('API models');
    expect(screen.getByTestId('plan-pool-api').textContent).toContain('85.3%');
    const card = document.getElementById('plan')!;
    expect(card.textContent).not.toMatch(/\$0\.00/);
    expect(card.textContent).not.toMatch(/\b0 of 0\b/);
    expect(screen.queryByTestId('plan-spent')).toBeNull();
  });

  it('cents with a limit: money first, pools after', async () => {
    const summary = await showPlan({ ...base, spentCents: 1234, includedCents: 2000, remainingCents: 766, totalPercentUsed: 61.7, pools: pools(20, null) });
    expect(summary.textContent).toBe('$12.34 of $20.00 used');
    expect(screen.getByTestId('plan-spent').textContent).toBe('$12.34');
    expect(screen.getByTestId('plan-pool-api').textContent).toContain('not reported');
  });

  it('nothing reported: says so instead of zeros', async () => {
    const summary = await showPlan({ ...base, spentCents: 0, includedCents: 0, remainingCents: 0 });
    expect(summary.textContent).toBe('Cursor reported no usage numbers for this billing cycle.');
    expect(document.getElementById('plan')!.textContent).not.toMatch(/of \$0\.00|\b0 of 0\b/);
  });

  it('formatting', () => {
    expect(percent(62)).toBe('62%');
    expect(percent(85.25)).toBe('85.3%');
    expect(percent(120)).toBe('120%');
    expect(planSummary({ ...base, spentCents: 500, includedCents: 0 })).toBe('$5.00 spent');
    expect(planSummary({ ...base, spentCents: 0, includedCents: 0 })).toBeNull();
  });
});

describe('client version', () => {
  it('the account shows the version Cursor is sent and where it came from', async () => {
    mockBackend();
    render(<App initialScreen="account" />);
    const dd = await screen.findByTestId('account-client-version');
    expect(dd.textContent).toBe("cli-2026.07.23-e383d2b (Cursor's CLI installer)");
  });
});
