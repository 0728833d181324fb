/**
 * Browser tabs for the end-to-end tests: one tab per browser context (its own storage, its own
 * libp2p node), with the page's debug hook on, and helpers that read its network panel.
 *
 * The page exposes its network as `window.__pouw.network` only when `window.__POUW_DEBUG__` is set
 * before the bundle loads (addInitScript below); a normal page has no such hook.
 */
import type { BrowserContext, Page } from '@playwright/test'
import type { NetworkStats, PubSubNetwork } from '@pouw/network'
import { expect } from './testnet'

export interface Row { transport: string | null; peer: string | null; relay: boolean }
export interface Got { text: string; from: string }
/** The network's counters, as `stats()` returns them. */
export type Stats = NetworkStats
/** What the page's debug hook exposes: its network (see apps/web/src/p2p.ts). */
export type DebugNetwork = Pick<PubSubNetwork, 'subscribe' | 'publish' | 'onMessage' | 'addrs' | 'stats'>
export type DebugWindow = Window & { __POUW_DEBUG__?: boolean; __pouw?: { network: DebugNetwork }; __got?: Got[] }

export interface Tab { name: string; page: Page; context: BrowserContext; peerId: string; home: string; logs: string[] }

/**
 * Opens `url` in a new context and waits until the page is connected to its relay and shows its
 * peer id. `logFilter` picks the console lines kept in `tab.logs` (printed when a test fails).
 */
export async function openTab(newContext: () => Promise<BrowserContext>, name: string, url: string, logFilter = '[p2p]'): Promise<Tab> {
  const context = await newContext()
  await context.addInitScript(() => { (window as DebugWindow).__POUW_DEBUG__ = true })
  const page = await context.newPage()
  const logs: string[] = []
  page.on('console', (msg) => { if (msg.text().includes(logFilter)) logs.push(`${new Date().toISOString()} ${msg.text()}`) })
  page.on('pageerror', (err) => logs.push(`${new Date().toISOString()} pageerror ${err.message}`))
  await page.goto(url)
  await expect(page.getByTestId('relay-status')).toHaveAttribute('data-connected', 'true', { timeout: 60_000 })
  await expect(page.getByTestId('local-peer-id')).not.toHaveText('—')
  const peerId = ((await page.getByTestId('local-peer-id').textContent()) ?? '').trim()
  await page.waitForFunction(() => (window as DebugWindow).__pouw !== undefined)
  return { name, page, context, peerId, home: url, logs }
}

/** The tab's network panel: one row per open connection. */
export const rows = (tab: Tab): Promise<Row[]> =>
  tab.page.locator('[data-testid=conn-row]').evaluateAll((els) =>
    els.map((e) => ({ transport: e.getAttribute('data-transport'), peer: e.getAttribute('data-peer'), relay: e.getAttribute('data-relay') === 'true' })))

export const stats = (tab: Tab): Promise<Stats> => tab.page.evaluate(() => (window as DebugWindow).__pouw!.network.stats())
export const addrs = (tab: Tab): Promise<string[]> => tab.page.evaluate(() => (window as DebugWindow).__pouw!.network.addrs())

/** Every pair of tabs shows a 'webrtc' conn-row for the other, on both sides. */
export async function allLinked(tabs: Tab[]): Promise<boolean> {
  for (const t of tabs) {
    const webrtc = new Set((await rows(t)).filter((r) => r.transport === 'webrtc').map((r) => r.peer))
    if (tabs.some((o) => o !== t && !webrtc.has(o.peerId))) return false
  }
  const counts = await Promise.all(tabs.map(async (t) => Number(await t.page.getByTestId('conn-direct-count').textContent())))
  return counts.every((n) => n >= tabs.length - 1)
}

/** The page's wallet key (hex), once the Wallet panel shows it. */
export async function walletAddress(page: Page): Promise<string> {
  await expect(page.getByTestId('wallet-address')).toHaveText(/^[0-9a-f]{64}$/, { timeout: 30_000 })
  return (await page.getByTestId('wallet-address').textContent())!.trim()
}

/** A failed test's view of a tab: its last 30 console lines and the start of its page text, on stderr. */
export async function dumpTab(tab: Tab): Promise<void> {
  const text = await tab.page.locator('body').innerText({ timeout: 5_000 }).catch((e: Error) => `(no page text: ${e.message})`)
  console.error(`--- ${tab.name} console ---\n${tab.logs.slice(-30).join('\n')}\n--- ${tab.name} page ---\n${text.slice(0, 3000)}`)
}
