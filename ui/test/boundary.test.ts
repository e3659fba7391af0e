// The house rule from docs/IPC.md and style.md: only src/ipc.ts talks to the backend.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const src = join(__dirname, '..', 'src');
function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : /\.(ts|tsx)$/.test(f) ? [p] : [];
  });
}

describe('IPC boundary', () => {
  it('no module but src/ipc.ts imports @tauri-apps', () => {
    const offenders = files(src)
      .filter((f) => relative(src, f) !== 'ipc.ts')
      .filter((f) => /from\s+['"]@tauri-apps\//.test(readFileSync(f, 'utf8')));
    expect(offenders.map((f) => relative(src, f))).toEqual([]);
  });
});
