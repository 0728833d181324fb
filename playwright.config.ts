import { defineConfig } from '@playwright/test'

/** System Chromium (Debian package); override with CHROMIUM_PATH. */
const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export default defineConfig({
  testDir: 'e2e',
  testMatch: '**/*.spec.ts',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  timeout: 8 * 60_000,
  // the sum of the tests' own limits could pass 45 min (multi-tab 30, lifecycle 20); CI allows 90 in all
  globalTimeout: 75 * 60_000,
  expect: { timeout: 30_000 },
  reporter: 'list',
  outputDir: 'test-results',
  use: {
    headless: true,
    actionTimeout: 30_000,
    navigationTimeout: 60_000,
    screenshot: 'only-on-failure',
    trace: 'off',
  },
  projects: [
    {
      name: 'chromium',
      use: {
        browserName: 'chromium',
        launchOptions: {
          executablePath: CHROMIUM_PATH,
          args: [
            '--no-sandbox',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            '--no-first-run',
            '--enable-unsafe-webgpu',
            '--allow-loopback-in-peer-connection',
            '--use-fake-ui-for-media-stream',
            '--disable-quic',
          ],
        },
      },
    },
  ],
})
