// Small pure formatters shared by the views (no I/O, easy to unit-test).

/** 200000 → "200K", 1048576 → "1M", 1500 → "1.5K". */
export function compactNumber(n: number): string {
  const abs = Math.abs(n);
  const units: [number, string][] = [
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  for (const [size, suffix] of units) {
    if (abs >= size) {
      const v = n / size;
      const digits = Math.abs(v) >= 100 || Number.isInteger(v) ? 0 : 1;
      return `${trimZero(v.toFixed(digits))}${suffix}`;
    }
  }
  return String(n);
}

function trimZero(s: string): string {
  return s.includes('.') ? s.replace(/\.0$/, '') : s;
}

/** 1234 cents → "$12.34". */
export function dollars(cents: number): string {
  return (cents / 100).toLocaleString('en-US', { style: 'currency', currency: 'USD' });
}

/** Local "HH:MM" for a Unix-ms timestamp. */
export function hhmm(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Local "Nov 20" for a Unix-ms timestamp. */
export function shortDate(ms: number): string {
  return new Date(ms).toLocaleDateString('en-US', { month: 'short', day: 'numeric' });
}

/** Local "Nov 20, 14:05". */
export function dateTime(ms: number): string {
  return `${shortDate(ms)}, ${hhmm(ms)}`;
}

/** 840 → "840 ms", 2300 → "2.3 s", null → "—". */
export function millis(ms: number | null): string {
  if (ms === null) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Loopback hosts are the only ones safe to bind without a warning. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1') return true;
  return /^127(\.\d{1,3}){3}$/.test(h);
}

/**
 * 1234567 → "1,234,567". Always en-US, like the other formatters: under LANG=C WebKitGTK
 * reports the language "C", which Intl rejects, so the system default cannot be trusted.
 */
export function grouped(n: number): string {
  return n.toLocaleString('en-US');
}
