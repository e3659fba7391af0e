import { fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { App } from '../src/app';
import {
  browserSignIn,
  deferred,
  emptyReport,
  mockBackend,
  report,
  settings,
  signedOut,
  status,
  waitingForBrowser,
} from './backend';

describe('sign in', () => {
  it('waits for the browser, then shows the account', async () => {
    const pending = deferred<unknown>();
    const be = mockBackend({ get_status: () => signedOut(), sign_in: () => pending.promise });
    render(<App />);
    await userEvent.click(await screen.findByRole('button', { name: 'Sign in with Cursor' }));
    expect(await screen.findByText('Approve the sign-in in your browser…')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Cancel' })).toBeTruthy();
    expect(be.callsOf('sign_in')).toHaveLength(1);

    pending.resolve(status());
    expect(await screen.findByText('ada@example.com', { selector: 'dd' })).toBeTruthy();
    expect(screen.getByText('Pro')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Sign out' })).toBeTruthy();
    expect(screen.queryByText('Approve the sign-in in your browser…')).toBeNull();
  });

  it('leaving the screen while waiting keeps one sign-in going', async () => {
    const signIn = browserSignIn();
    const be = mockBackend({ get_status: () => signedOut(), ...signIn.handlers });
    render(<App />);
    await userEvent.click(await screen.findByRole('button', { name: 'Sign in with Cursor' }));
    await userEvent.click(screen.getByRole('button', { name: 'Usage' }));
    await userEvent.click(screen.getByRole('button', { name: 'Account' }));
    expect(await screen.findByText('Approve the sign-in in your browser…')).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Sign in with Cursor' })).toBeNull();
    await signIn.approve();
    expect(await screen.findByRole('button', { name: 'Sign out' })).toBeTruthy();
    expect(be.callsOf('sign_in')).toHaveLength(1);
  });

  // Regression: the pending sign-in lived in a module global of Account.tsx, so a window
  // closed and reopened (a new page, the backend still waiting) showed "Sign in" again,
  // and that second click cancelled the first sign-in. It is in `Status.signIn` now.
  it('a window reopened while waiting shows the same sign-in, with Cancel', async () => {
    const signIn = browserSignIn();
    let current = signedOut();
    const be = mockBackend({ get_status: () => current, ...signIn.handlers });
    const first = render(<App initialScreen="account" />);
    await userEvent.click(await screen.findByRole('button', { name: 'Sign in with Cursor' }));
    expect(await screen.findByText('Approve the sign-in in your browser…')).toBeTruthy();
    first.unmount();

    // A new window is a new page: its modules start afresh, the backend still waits.
    current = waitingForBrowser();
    vi.resetModules();
    const { App: Reopened } = await import('../src/app');
    render(<Reopened initialScreen="account" />);
    expect(await screen.findByText('Approve the sign-in in your browser…')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Cancel' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Sign in with Cursor' })).toBeNull();
    expect(be.callsOf('sign_in')).toHaveLength(1);
    expect(be.callsOf('cancel_sign_in')).toHaveLength(0);

    // Approved in the browser: the reopened window follows the status it is sent.
    current = status();
    await signIn.approve();
    expect(await screen.findByRole('button', { name: 'Sign out' })).toBeTruthy();
    expect(be.callsOf('sign_in')).toHaveLength(1);
  });

  it('a reopened window can cancel the sign-in it did not start', async () => {
    const signIn = browserSignIn();
    const be = mockBackend({ get_status: () => waitingForBrowser(), ...signIn.handlers });
    render(<App initialScreen="account" />);
    await userEvent.click(await screen.findByRole('button', { name: 'Cancel' }));
    expect(be.callsOf('cancel_sign_in')).toHaveLength(1);
    expect(await screen.findByRole('button', { name: 'Sign in with Cursor' })).toBeTruthy();
    expect(be.callsOf('sign_in')).toHaveLength(0);
  });

  it('cancel calls cancel_sign_in and returns to the sign-in button without an error', async () => {
    const pending = deferred<unknown>();
    const be = mockBackend({
      get_status: () => signedOut(),
      sign_in: () => pending.promise,
      cancel_sign_in: () => {
        pending.reject({ kind: 'login_cancelled', message: 'Sign-in was cancelled.' });
        return null;
      },
    });
    render(<App />);
    await userEvent.click(await screen.findByRole('button', { name: 'Sign in with Cursor' }));
    await userEvent.click(await screen.findByRole('button', { name: 'Cancel' }));
    expect(be.callsOf('cancel_sign_in')).toHaveLength(1);
    expect(await screen.findByRole('button', { name: 'Sign in with Cursor' })).toBeTruthy();
    expect(screen.getByText('Sign-in cancelled.')).toBeTruthy();
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('a timeout is explained and can be retried', async () => {
    let attempt = 0;
    mockBackend({
      get_status: () => signedOut(),
      sign_in: () => {
        attempt++;
        if (attempt === 1) throw { kind: 'login_timed_out', message: 'The browser sign-in was not approved within 5 minutes.' };
        return status();
      },
    });
    render(<App />);
    await userEvent.click(await screen.findByRole('button', { name: 'Sign in with Cursor' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('The sign-in was not approved in time.');
    expect(alert.textContent).toContain('not approved within 5 minutes');
    await userEvent.click(within(alert).getByRole('button', { name: 'Try again' }));
    expect(await screen.findByRole('button', { name: 'Sign out' })).toBeTruthy();
  });
});

describe('errors', () => {
  it('shows CommandError.message, not the kind or a stack', async () => {
    mockBackend({ get_status: () => { throw { kind: 'io', message: 'The settings file could not be read.' }; } });
    render(<App />);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('The settings file could not be read.');
    expect(alert.textContent).not.toContain('io');
  });

  it('a thrown JS Error shows a plain sentence, never its stack', async () => {
    mockBackend({ get_status: () => { throw new Error('boom at Object.invoke (core.js:341:12)'); } });
    render(<App />);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Something went wrong');
    expect(alert.textContent).not.toMatch(/boom|core\.js|at Object/);
  });
});

describe('status bar', () => {
  it('follows status-changed events and starts the proxy', async () => {
    const be = mockBackend({
      get_status: () => signedOut(),
      start_proxy: () => status({ signedIn: false, account: null }),
    });
    render(<App />);
    expect(await screen.findByText('Proxy stopped')).toBeTruthy();
    await be.emitStatus(status());
    expect(await screen.findByText('Proxy running')).toBeTruthy();
    expect(screen.getByText('http://127.0.0.1:18741/v1')).toBeTruthy();
    await be.emitStatus(signedOut());
    await userEvent.click(await screen.findByRole('button', { name: 'Start' }));
    expect(be.callsOf('start_proxy')).toHaveLength(1);
    expect(await screen.findByText('Proxy running')).toBeTruthy();
  });

  it('the footer shows the version and the commit it was built from', async () => {
    mockBackend({ get_status: () => status() });
    render(<App />);
    expect((await screen.findByTestId('version')).textContent).toBe('v0.1.0 (6a334c3a1b)');
  });
});

describe('models', () => {
  it('filters, formats limits, and sets the default model through update_settings', async () => {
    const be = mockBackend({ get_settings: () => settings({ port: 18999 }) });
    render(<App initialScreen="models" />);
    expect(await screen.findByText('3 of 3 models')).toBeTruthy();
    expect(screen.getByText(/1M context/)).toBeTruthy();
    expect(screen.getAllByText(/200K context/)).toHaveLength(1);
    expect(screen.getAllByText('reasoning')).toHaveLength(2);

    await userEvent.type(screen.getByLabelText('Filter models'), 'gem');
    expect(await screen.findByText('1 of 3 models')).toBeTruthy();
    expect(screen.queryByText('Claude 4.5 Sonnet')).toBeNull();

    await userEvent.click(screen.getByRole('radio', { name: /Gemini 2\.5 Pro/ }));
    await screen.findByText('Default model set to gemini-2.5-pro.');
    expect(be.callsOf('update_settings')).toEqual([
      { settings: settings({ port: 18999, defaultModel: 'gemini-2.5-pro' }) },
    ]);
  });

  it('refresh asks for list_models {refresh:true}', async () => {
    const be = mockBackend();
    render(<App initialScreen="models" />);
    await screen.findByText('3 of 3 models');
    await userEvent.click(screen.getByRole('button', { name: 'Refresh' }));
    await waitFor(() => expect(be.callsOf('list_models')).toEqual([{ refresh: false }, { refresh: true }]));
  });

  it('a rejected update keeps the old default and says why', async () => {
    mockBackend({ update_settings: () => { throw { kind: 'invalid_input', message: 'defaultModel: unknown model.' }; } });
    render(<App initialScreen="models" />);
    await screen.findByText('3 of 3 models');
    await userEvent.click(screen.getByRole('radio', { name: /GPT-5/ }));
    expect((await screen.findByRole('alert')).textContent).toContain('defaultModel: unknown model.');
    expect((screen.getByRole('radio', { name: /Claude 4\.5 Sonnet/ }) as HTMLInputElement).checked).toBe(true);
  });
});

describe('usage', () => {
  it('empty ledger: tells a new user what to do', async () => {
    mockBackend({ get_status: () => status({ proxy: { ...status().proxy, state: 'stopped' } }), usage_report: () => emptyReport() });
    render(<App initialScreen="usage" />);
    expect(await screen.findByText('No requests yet')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Start proxy' })).toBeTruthy();
    expect(screen.getByText(/Copy the OpenCode config/)).toBeTruthy();
    expect(screen.getByText('opencode')).toBeTruthy();
    expect(screen.queryByText('Requests by model')).toBeNull();
  });

  it('with data: charts per model, sources labelled, estimates marked', async () => {
    const be = mockBackend({
      usage_report: (a) =>
        report({ range: a.range as never, tokensExact: false, totals: { ...report().totals, estimatedRequests: 2 } }),
    });
    render(<App initialScreen="usage" />);
    expect(await screen.findByText('Requests by model')).toBeTruthy();
    expect(screen.queryByText('No requests yet')).toBeNull();
    const chart = document.getElementById('chart-requests')!;
    // The data-table twin of the chart names every model.
    expect(within(chart).getByRole('columnheader', { name: 'claude-4.5-sonnet' })).toBeTruthy();
    expect(within(chart).getByRole('columnheader', { name: 'gpt-5' })).toBeTruthy();
    expect(screen.getByText('Tokens by model (estimated)')).toBeTruthy();
    expect(screen.getByTestId('tokens-counted').textContent).toBe('tokens estimated for 2 of 7 requests');
    expect(screen.getByText('≈ 42K')).toBeTruthy();
    expect(screen.getByText('Cursor — may lag ~1 min, fetched 14:29')).toBeTruthy();
    expect(screen.getAllByText('Local ledger — live').length).toBeGreaterThan(0);
    expect(screen.getByText('820 ms')).toBeTruthy();

    await userEvent.click(screen.getByRole('button', { name: '30 d' }));
    await waitFor(() => expect(be.callsOf('usage_report')).toContainEqual({ range: '30d' }));
  });

  it('the charts split by client or dialect; a table shows usage by client', async () => {
    mockBackend({
      usage_report: (a) =>
        report({
          range: a.range as never,
          byClient: [
            { key: 'opencode', requests: 4, errors: 0, promptTokens: 24000, completionTokens: 2000, estimatedRequests: 0 },
            { key: null, requests: 3, errors: 1, promptTokens: 18000, completionTokens: 1100, estimatedRequests: 2 },
          ],
        }),
    });
    render(<App initialScreen="usage" />);
    expect(await screen.findByText('By client')).toBeTruthy();
    const table = within(document.getElementById('by-client')!);
    const rows = table.getAllByRole('row').map((r) => Array.from(r.children, (c) => c.textContent));
    expect(rows).toEqual([
      ['Client', 'Requests', 'Prompt', 'Completion', 'Errors'],
      ['opencode', '4', '24K', '2K', '0'],
      ['(unknown)', '3', '≈ 18K', '1.1K', '1'],
    ]);

    const split = screen.getByRole('group', { name: 'Split charts by' });
    expect(within(split).getByRole('button', { name: 'Model' }).getAttribute('aria-pressed')).toBe('true');
    await userEvent.click(within(split).getByRole('button', { name: 'Client' }));
    expect(await screen.findByText('Requests by client')).toBeTruthy();
    expect(screen.getByText('Tokens by client')).toBeTruthy();
    const chart = within(document.getElementById('chart-requests')!);
    expect(chart.getByRole('columnheader', { name: 'opencode' })).toBeTruthy();
    expect(chart.getByRole('columnheader', { name: 'claude-cli' })).toBeTruthy();
    expect(chart.queryByRole('columnheader', { name: 'gpt-5' })).toBeNull();

    await userEvent.click(within(split).getByRole('button', { name: 'Dialect' }));
    expect(await screen.findByText('Requests by dialect')).toBeTruthy();
    expect(chart.getByRole('columnheader', { name: 'Anthropic Messages' })).toBeTruthy();
    expect(chart.getByRole('columnheader', { name: 'Chat Completions' })).toBeTruthy();

    // The split holds across a range change.
    await userEvent.click(screen.getByRole('button', { name: '7 d' }));
    expect(await screen.findByText('Requests by dialect')).toBeTruthy();
  });

  it("Cursor's exact counts: labelled exact, with cached and reasoning tokens", async () => {
    mockBackend({ usage_report: (a) => report({ range: a.range as never }) });
    render(<App initialScreen="usage" />);
    expect(await screen.findByText('Requests by model')).toBeTruthy();
    expect(screen.getByTestId('tokens-counted').textContent).toBe('tokens exact');
    expect(screen.queryByText('Tokens by model (estimated)')).toBeNull();
    expect(screen.getByText('42K')).toBeTruthy();
    const prompt = screen.getByText('Prompt tokens').parentElement!;
    expect(within(prompt).getByText('30K cached')).toBeTruthy();
    expect(prompt.getAttribute('title')).toContain('2,000 written to it');
    const completion = screen.getByText('Completion tokens').parentElement!;
    expect(within(completion).getByText('450 reasoning')).toBeTruthy();
  });
});

describe('settings', () => {
  it('a non-loopback bind address needs the warning confirmed before Save', async () => {
    const be = mockBackend();
    render(<App initialScreen="settings" />);
    const host = await screen.findByLabelText('Bind address');
    const save = screen.getByRole('button', { name: 'Save' }) as HTMLButtonElement;
    expect(save.disabled).toBe(true); // nothing changed yet

    fireEvent.input(host, { target: { value: '0.0.0.0' } });
    expect(await screen.findByText(/is not a loopback address/)).toBeTruthy();
    expect(save.disabled).toBe(true);
    fireEvent.submit(save.closest('form')!);
    expect(be.callsOf('update_settings')).toHaveLength(0);

    await userEvent.click(screen.getByLabelText('I understand, listen on 0.0.0.0'));
    expect(save.disabled).toBe(false);
    await userEvent.click(save);
    await screen.findByText('Saved.');
    expect(be.callsOf('update_settings')).toEqual([{ settings: settings({ host: '0.0.0.0' }) }]);
  });

  it('a loopback address saves without the warning', async () => {
    const be = mockBackend();
    render(<App initialScreen="settings" />);
    const host = await screen.findByLabelText('Bind address');
    fireEvent.input(host, { target: { value: '127.0.0.2' } });
    expect(screen.queryByText(/is not a loopback address/)).toBeNull();
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    await screen.findByText('Saved.');
    expect(be.callsOf('update_settings')).toEqual([{ settings: settings({ host: '127.0.0.2' }) }]);
  });

  it('switching the connection to HTTP/1.1 saves agentTransport "http1"', async () => {
    const be = mockBackend();
    render(<App initialScreen="settings" />);
    const group = await screen.findByRole('group', { name: 'Connection to Cursor' });
    const http2 = within(group).getByLabelText('HTTP/2 (default, fastest)') as HTMLInputElement;
    const http1 = within(group).getByLabelText('HTTP/1.1 (for proxies and firewalls that break HTTP/2)') as HTMLInputElement;
    expect(http2.checked).toBe(true);
    expect(group.getAttribute('aria-describedby')).toBe('agent-transport-hint');
    expect(document.getElementById('agent-transport-hint')?.textContent).toMatch(/proxy or firewall/);

    await userEvent.click(http1);
    expect(http1.checked).toBe(true);
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    await screen.findByText('Saved.');
    expect(be.callsOf('update_settings')).toEqual([{ settings: settings({ agentTransport: 'http1' }) }]);
    expect((screen.getByRole('button', { name: 'Save' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('a refused connection change is shown and stays unsaved', async () => {
    mockBackend({
      update_settings: () => {
        throw { kind: 'invalid_input', message: 'agentTransport: set to "http2" by the CURSOR_BRIDGE_AGENT_TRANSPORT environment variable; change it there' };
      },
    });
    render(<App initialScreen="settings" />);
    await userEvent.click(await screen.findByLabelText('HTTP/1.1 (for proxies and firewalls that break HTTP/2)'));
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Not saved.');
    expect(alert.textContent).toContain('CURSOR_BRIDGE_AGENT_TRANSPORT');
    expect(screen.queryByText('Saved.')).toBeNull();
    expect(screen.getByRole('button', { name: 'Discard changes' })).toBeTruthy();
  });

  it('Forget conversations asks first, then calls forget_conversations and says how many', async () => {
    const be = mockBackend({ forget_conversations: () => 3 });
    render(<App initialScreen="settings" />);
    await userEvent.click(await screen.findByRole('button', { name: 'Forget conversations…' }));
    expect(be.callsOf('forget_conversations')).toHaveLength(0);
    await userEvent.click(screen.getByRole('button', { name: 'Keep them' }));
    expect(be.callsOf('forget_conversations')).toHaveLength(0);
    await userEvent.click(screen.getByRole('button', { name: 'Forget conversations…' }));
    await userEvent.click(screen.getByRole('button', { name: 'Forget conversations' }));
    expect(await screen.findByText('Forgot 3 conversations.')).toBeTruthy();
    expect(be.callsOf('forget_conversations')).toEqual([{}]);
  });

  it('Copy OpenCode config writes the snippet text to the clipboard', async () => {
    const text = '{\n  "provider": { "cursor-bridge": { "options": { "apiKey": "cb-local-secret-0123456789abcdef" } } }\n}';
    mockBackend({ opencode_snippet: () => ({ text, baseUrl: 'http://127.0.0.1:18741/v1' }) });
    const writeText = vi.fn(() => Promise.resolve());
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
    render(<App initialScreen="settings" />);
    const preview = await screen.findByTestId('snippet-preview');
    expect(preview.textContent).not.toContain('0123456789abcdef'); // the key is masked on screen
    await userEvent.click(screen.getByRole('button', { name: 'Copy OpenCode config' }));
    expect(writeText).toHaveBeenCalledWith(text);
    expect(await screen.findByText('Copied')).toBeTruthy();
  });

  it('Add to OpenCode shows the path and the backup', async () => {
    const be = mockBackend({
      opencode_install: () => ({ path: '/home/ada/.config/opencode/opencode.json', backup: '/home/ada/.config/opencode/opencode.json.bak', created: false }),
    });
    render(<App initialScreen="settings" />);
    await userEvent.click(await screen.findByRole('button', { name: 'Add to OpenCode' }));
    expect(await screen.findByText('/home/ada/.config/opencode/opencode.json')).toBeTruthy();
    expect(screen.getByText('/home/ada/.config/opencode/opencode.json.bak')).toBeTruthy();
    expect(be.callsOf('opencode_install')).toEqual([{}]);
  });

  it('launch at login shows the state the OS reports back', async () => {
    const be = mockBackend({ set_launch_at_login: () => false });
    render(<App initialScreen="settings" />);
    await userEvent.click(await screen.findByLabelText('Launch Cursor Bridge at login'));
    expect(await screen.findByText('Your system kept launch at login off.')).toBeTruthy();
    expect(be.callsOf('set_launch_at_login')).toEqual([{ enabled: true }]);
    expect((screen.getByLabelText('Launch Cursor Bridge at login') as HTMLInputElement).checked).toBe(false);
  });

  it('regenerating the key asks first', async () => {
    const be = mockBackend({ regenerate_api_key: () => 'cb-local-new-ffffffffffffffff' });
    render(<App initialScreen="settings" />);
    await userEvent.click(await screen.findByRole('button', { name: 'Regenerate…' }));
    expect(be.callsOf('regenerate_api_key')).toHaveLength(0);
    await userEvent.click(screen.getByRole('button', { name: 'Regenerate key' }));
    await userEvent.click(screen.getByRole('button', { name: 'Show' }));
    expect(await screen.findByText('cb-local-new-ffffffffffffffff')).toBeTruthy();
  });
});
