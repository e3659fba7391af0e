// Settings → "Connect your tools": rows from connection_status, Connect / Disconnect /
// Preview changes / Copy snippet each calling its command, outcomes and refusals shown.
import { render, screen, within } from '@testing-library/preact';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { ConnectCard } from '../src/views/Connect';
import type { ConnectionStatus } from '../src/ipc';
import { mockBackend } from './backend';

const row = (over: Partial<ConnectionStatus>): ConnectionStatus => ({
  client: 'claude-code',
  name: 'Claude Code',
  path: '/home/ada/.claude/settings.json',
  connected: false,
  stale: false,
  ...over,
});

const DIFF = '--- /home/ada/.claude/settings.json\n+++ /home/ada/.claude/settings.json\n+  "env": { "ANTHROPIC_AUTH_TOKEN": "<local API key>" }\n';

describe('Connect your tools', () => {
  it('lists every client with its status and path', async () => {
    mockBackend({
      connection_status: () => [
        row({ client: 'opencode', name: 'OpenCode', path: '/h/.config/opencode/opencode.json', connected: true }),
        row({ connected: true, stale: true }),
        row({ client: 'codex', name: 'Codex CLI', path: '/h/.codex/config.toml' }),
      ],
    });
    render(<ConnectCard />);
    const opencode = await screen.findByRole('group', { name: 'OpenCode' });
    expect(opencode.textContent).toContain('Connected');
    expect(within(opencode).getByRole('button', { name: 'Disconnect' })).toBeTruthy();
    const claude = screen.getByRole('group', { name: 'Claude Code' });
    expect(claude.textContent).toContain('another port or key');
    expect(within(claude).getByRole('button', { name: 'Connect again' })).toBeTruthy();
    const codex = screen.getByRole('group', { name: 'Codex CLI' });
    expect(codex.textContent).toContain('Not connected');
    expect(codex.textContent).toContain('/h/.codex/config.toml');
    expect(within(codex).queryByRole('button', { name: 'Disconnect' })).toBeNull();
  });

  it('previews with a dry run, then connects and shows the backup and notes', async () => {
    let connected = false;
    const be = mockBackend({
      connection_status: () => [row({ connected })],
      connect_client: (a) => {
        const dry = (a.options as { dryRun?: boolean }).dryRun === true;
        if (!dry) connected = true;
        return {
          client: 'claude-code',
          path: '/home/ada/.claude/settings.json',
          diff: DIFF,
          backup: dry ? null : '/home/ada/.claude/settings.json.bak-20261203-150000',
          created: false,
          dryRun: dry,
          notes: ['Run `claude`.'],
        };
      },
    });
    render(<ConnectCard />);
    const claude = await screen.findByRole('group', { name: 'Claude Code' });
    await userEvent.click(within(claude).getByRole('button', { name: 'Preview changes' }));
    const diff = await within(claude).findByLabelText("Changes to Claude Code's config");
    expect(diff.textContent).toContain('<local API key>');
    expect(be.callsOf('connect_client')).toEqual([{ client: 'claude-code', options: { dryRun: true } }]);

    await userEvent.click(within(claude).getByRole('button', { name: 'Connect' }));
    expect(await within(claude).findByText('/home/ada/.claude/settings.json.bak-20261203-150000')).toBeTruthy();
    expect(within(claude).getByText('Run `claude`.')).toBeTruthy();
    expect(be.callsOf('connect_client')[1]).toEqual({ client: 'claude-code', options: {} });
    // The status is read again: now it can be disconnected.
    expect(await within(claude).findByRole('button', { name: 'Disconnect' })).toBeTruthy();
    expect(be.callsOf('connection_status').length).toBeGreaterThanOrEqual(2);
  });

  it('disconnects, and a refused file says it was not changed', async () => {
    const be = mockBackend({
      connection_status: () => [row({ connected: true })],
      disconnect_client: () => ({
        client: 'claude-code',
        path: '/home/ada/.claude/settings.json',
        backup: null,
        restoredExactly: true,
        removed: false,
        notes: [],
      }),
      connect_client: () => {
        throw { kind: 'invalid_input', message: 'refusing to change /home/ada/.claude/settings.json: it is not valid JSONC' };
      },
    });
    render(<ConnectCard />);
    const claude = await screen.findByRole('group', { name: 'Claude Code' });
    await userEvent.click(within(claude).getByRole('button', { name: 'Disconnect' }));
    expect(await within(claude).findByText(/Restored/)).toBeTruthy();
    expect(be.callsOf('disconnect_client')).toEqual([{ client: 'claude-code' }]);

    await userEvent.click(within(claude).getByRole('button', { name: 'Connect again' }));
    const alert = await within(claude).findByRole('alert');
    expect(alert.textContent).toContain("Claude Code's config was not changed.");
    expect(alert.textContent).toContain('not valid JSONC');
  });

  it('Copy snippet copies the client snippet text', async () => {
    const text = '[model_providers.cursor-bridge]\nbase_url = "http://127.0.0.1:18741/v1"\n';
    const be = mockBackend({
      connection_status: () => [row({ client: 'codex', name: 'Codex CLI' })],
      client_snippet: () => ({ client: 'codex', text, path: null, notes: [] }),
    });
    const writeText = vi.fn(() => Promise.resolve());
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
    render(<ConnectCard />);
    const codex = await screen.findByRole('group', { name: 'Codex CLI' });
    await userEvent.click(within(codex).getByRole('button', { name: 'Copy snippet' }));
    expect(writeText).toHaveBeenCalledWith(text);
    expect(be.callsOf('client_snippet')).toEqual([{ client: 'codex' }]);
  });
});
