// First: the rest of the UI (uPlot at load time) needs a locale `Intl` accepts.
import './locale';
import { render } from 'preact';
import { App } from './app';
import './styles.css';

async function boot() {
  // `npm run dev` in a plain browser has no Tauri backend: load the same fake backend the
  // Playwright tests use. `import.meta.env.DEV` is false in `vite build`, so this is
  // dropped from the production bundle.
  if (import.meta.env.DEV && !(window as { __TAURI_INTERNALS__?: unknown }).__TAURI_INTERNALS__) {
    await import('../e2e/fake-backend.js');
  }
  render(<App />, document.getElementById('app')!);
}

void boot();
