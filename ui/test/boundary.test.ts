// House rules checked on the sources: only src/ipc.ts talks to the backend (docs/IPC.md,
// style.md), and the modules of src/ import each other one way (no import circles).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
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

/** The src/ modules `file` imports (relative specifiers only, type-only imports included). */
function localImports(file: string, all: Set<string>): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]/g)].map((m) => m[1]);
  return specs.flatMap((s) => {
    const base = resolve(dirname(file), s);
    const hit = [base, `${base}.ts`, `${base}.tsx`, join(base, 'index.ts')].find((p) => all.has(p));
    return hit ? [hit] : [];
  });
}

/** Every import circle of the graph `importsOf` spans from `modules`, each as the path closing it. */
function circles(modules: string[], importsOf: (m: string) => string[]): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const found: string[][] = [];
  const visit = (m: string, path: string[]) => {
    state.set(m, 'open');
    for (const next of importsOf(m)) {
      if (state.get(next) === 'open') found.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next, [...path, next]);
    }
    state.set(m, 'done');
  };
  for (const m of modules) if (!state.has(m)) visit(m, [m]);
  return found;
}

describe('module graph', () => {
  it('has no import circles in src/', () => {
    const modules = files(src);
    const all = new Set(modules);
    const found = circles(modules, (f) => localImports(f, all)).map((c) =>
      c.map((f) => relative(src, f)).join(' → '),
    );
    expect(found).toEqual([]);
  });

  it('reports a circle when there is one', () => {
    // The shape we had: app.tsx imports the views, and Usage.tsx imported app.tsx back.
    const graph: Record<string, string[]> = { app: ['Usage', 'ipc'], Usage: ['app', 'ipc'], ipc: [] };
    expect(circles(Object.keys(graph), (m) => graph[m])).toEqual([['app', 'Usage', 'app']]);
  });

  it('reads type-only and re-export imports as edges', () => {
    const usage = join(src, 'views', 'Usage.tsx');
    const all = new Set(files(src));
    expect(localImports(usage, all)).toContain(join(src, 'screens.ts'));
  });
});
