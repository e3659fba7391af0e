import { render, screen, waitFor, within } from '@testing-library/preact';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { App } from '../src/app';
import { budget } from '../src/views/GuardCard';
import { guard, mockBackend, settings, status } from './backend';

const trip = {
  rule: 'repeatLimit' as const,
  message:
    'Cursor Bridge\'s guard stopped this agent: it called the tool `read` with the same arguments 5 times in a row (guard_repeat_limit = 5).',
  atMs: Date.UTC(2026, 10, 20, 14, 5),
  count: 5,
  limit: 5,
  refused: 2,
};

describe('the guard panel', () => {
  it("shows today's counts against each budget and pauses all", async () => {
    const be = mockBackend({ guard_pause: () => guard({ paused: true }) });
    render(<App initialScreen="usage" />);
    expect((await screen.findByTestId('guard-state')).textContent).toBe('On: nothing tripped.');
    expect(screen.getByTestId('guard-per-minute').textContent).toBe('3 of 120');
    expect(screen.getByTestId('guard-requests').textContent).toBe('42 (no limit)');
    expect(screen.getByTestId('guard-tokens').textContent).toMatch(/^51.234 of 200.000$/);
    const card = document.getElementById('guard')!;
    await userEvent.click(within(card).getByRole('button', { name: 'Pause all' }));
    expect(be.callsOf('guard_pause')).toHaveLength(1);
    expect(screen.getByTestId('guard-state').textContent).toMatch(/^Paused by guard/);
    expect(within(card).getByRole('button', { name: 'Resume' })).toBeTruthy();
  });

  it('shows a trip with its numbers and message, and Resume clears it', async () => {
    const be = mockBackend({
      get_status: () => status({ guard: { paused: false, tripped: ['guard_repeat_limit'] } }),
      guard_status: () => guard({ trips: [trip] }),
      guard_resume: () => guard(),
    });
    render(<App initialScreen="usage" />);
    const trips = await screen.findByTestId('guard-trips');
    expect(trips.textContent).toContain('repeatLimit');
    expect(trips.textContent).toContain('5 of 5, 2 refused');
    expect(trips.textContent).toContain('guard_repeat_limit = 5');
    await userEvent.click(within(document.getElementById('guard')!).getByRole('button', { name: 'Resume' }));
    expect(be.callsOf('guard_resume')).toHaveLength(1);
    await waitFor(() => expect(screen.queryByTestId('guard-trips')).toBeNull());
    expect(screen.getByTestId('guard-state').textContent).toBe('On: nothing tripped.');
  });

  it('re-reads the guard when the status says it changed (a trip from the tray or the CLI)', async () => {
    let current = guard();
    const be = mockBackend({ guard_status: () => current });
    render(<App initialScreen="usage" />);
    await screen.findByTestId('guard-state');
    current = guard({ trips: [trip] });
    await be.emitStatus(status({ guard: { paused: false, tripped: ['guard_repeat_limit'] } }));
    expect((await screen.findByTestId('guard-trips')).textContent).toContain('2 refused');
  });

  it('the seven guard settings are saved with the proxy settings', async () => {
    const be = mockBackend({ get_settings: () => settings() });
    render(<App initialScreen="settings" />);
    const fields = await screen.findByTestId('guard-settings');
    const limit = within(fields).getByRole('spinbutton', { name: /Same tool call in a row/ });
    await userEvent.clear(limit);
    await userEvent.type(limit, '8');
    await userEvent.click(within(fields).getByRole('radio', { name: 'Block' }));
    await userEvent.click(within(fields).getByRole('checkbox', { name: /the guard/ }));
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(be.callsOf('update_settings')).toHaveLength(1));
    const sent = be.callsOf('update_settings')[0].settings as Record<string, unknown>;
    expect(sent).toMatchObject({ guardRepeatLimit: 8, guardOnDemand: 'block', guardEnabled: false, guardMaxToolSteps: 100 });
  });

  it('formats a budget that is off', () => {
    expect(budget(7, 0)).toBe('7 (no limit)');
  });
});
