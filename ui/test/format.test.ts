import { describe, expect, it } from 'vitest';
import { compactNumber, isLoopbackHost, millis } from '../src/format';
import { IpcError, toIpcError } from '../src/ipc';

describe('compactNumber', () => {
  it.each([
    [0, '0'],
    [999, '999'],
    [1500, '1.5K'],
    [200000, '200K'],
    [272000, '272K'],
    [1048576, '1M'],
    [65536, '65.5K'],
    [2_500_000_000, '2.5B'],
  ])('%d → %s', (n, s) => expect(compactNumber(n)).toBe(s));
});

describe('isLoopbackHost', () => {
  it.each(['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', ' LOCALHOST '])('%s is loopback', (h) =>
    expect(isLoopbackHost(h)).toBe(true),
  );
  it.each(['0.0.0.0', '::', '192.168.1.5', '10.0.0.1', 'example.com', '127.0.0', ''])('%s is not', (h) =>
    expect(isLoopbackHost(h)).toBe(false),
  );
});

describe('millis', () => {
  it('formats', () => {
    expect(millis(null)).toBe('—');
    expect(millis(820)).toBe('820 ms');
    expect(millis(2400)).toBe('2.4 s');
  });
});

describe('toIpcError', () => {
  it('keeps a CommandError', () => {
    const e = toIpcError({ kind: 'port_in_use', message: 'Port 18741 is in use.' });
    expect(e).toBeInstanceOf(IpcError);
    expect([e.kind, e.message]).toEqual(['port_in_use', 'Port 18741 is in use.']);
  });
  it('takes Tauri string rejections as the message', () => {
    expect(toIpcError('command foo not found').message).toBe('command foo not found');
  });
  it('never passes a JS error message or stack through', () => {
    const e = toIpcError(new TypeError("Cannot read properties of undefined (reading 'invoke')"));
    expect(e.message).not.toMatch(/Cannot read|invoke/);
  });
});
