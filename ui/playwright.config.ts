// Playwright drives Debian's Chromium (no browser download) against the BUILT UI served by
// `vite preview`, with the fake backend injected before load (see e2e/fake-backend.js).
import { defineConfig } from '@playwright/test';

const port = Number(process.env.UI_TEST_PORT ?? 4319);

export default defineConfig({
  testDir: 'e2e',
  outputDir: 'test-results',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 30_000,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    viewport: { width: 960, height: 720 }, // the app window's size (tauri.conf.json)
    locale: 'en-US',
    timezoneId: 'UTC',
    colorScheme: 'light',
    permissions: ['clipboard-read', 'clipboard-write'],
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      // Software rendering and fixed font hinting keep screenshots byte-stable between runs.
      args: ['--disable-gpu', '--font-render-hinting=none', '--force-color-profile=srgb'],
    },
    trace: 'retain-on-failure',
  },
  webServer: {
    command: `npx vite preview --host 127.0.0.1 --strictPort --port ${port}`,
    url: `http://127.0.0.1:${port}`,
    reuseExistingServer: false,
    timeout: 30_000,
  },
});
