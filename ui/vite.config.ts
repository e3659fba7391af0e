/// <reference types="vitest/config" />
// Vite builds the UI into ui/dist (tauri.conf.json `frontendDist`); Vitest reuses this config.
import { defineConfig } from 'vite';

export default defineConfig({
  // Preact's automatic JSX runtime: no framework plugin needed, which keeps installs small.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  server: { port: 5173, strictPort: true },
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    reportCompressedSize: true,
  },
  test: {
    environment: 'happy-dom',
    include: ['test/**/*.test.{ts,tsx}'],
    setupFiles: ['test/setup.ts'],
    restoreMocks: true,
  },
});
