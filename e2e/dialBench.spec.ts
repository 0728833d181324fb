import type { BrowserContext, Page } from '@playwright/test'
import { expect, startRelayMesh, test, waitFor } from './testnet'

/**
 * Measurement, not a check: WebRTC dial figures between headless tabs. Skipped unless
 * POUW_DIAL_BENCH=1. Each round opens TABS tabs spread over two meshed relays, waits until every
 * pair has a WebRTC link (or 90 s), reads each tab's dial counters, and closes them.
 *
 *   npm run build:web && POUW_DIAL_BENCH=1 TABS=5 ROUNDS=3 npx playwright test --grep @dialbench
 *
 * To compare with the unpatched @libp2p/webrtc: `node scripts/patch-webrtc.mjs --revert`, rebuild
 * the page, run; then `node scripts/patch-webrtc.mjs` and rebuild again.
 */
const TABS = Number(process.env.TABS ?? 5)
const ROUNDS = Number(process.env.ROUNDS ?? 3)

interface Stats {
  startedAt: number
  firstDirectAt: number | null
  dials: { attempts: number; ok: number; failed: number; timedOut: number; lastError: string | null }
  dialMs: number[]
}
type DebugWindow = Window & { __POUW_DEBUG__?: boolean; __pouw?: { network: { stats(): Stats } } }

test('@dialbench WebRTC dial success rate and timings between tabs', async ({ browser, testnet }) => {
  test.skip(process.env.POUW_DIAL_BENCH !== '1', 'set POUW_DIAL_BENCH=1 to measure')
  test.setTimeout(ROUNDS * 3 * 60_000)
  const relays = await startRelayMesh(testnet, 2)
  const total = { attempts: 0, ok: 0, timedOut: 0, failed: 0, linkedPairs: 0, pairs: 0 }
  const dialMs: number[] = []
  const firstMs: number[] = []
  const meshMs: number[] = []
  for (let round = 1; round <= ROUNDS; round++) {
    const contexts: BrowserContext[] = []
    const pages: Page[] = []
    const opened = Date.now()
    for (let i = 0; i < TABS; i++) {
      const context = await browser.newContext()
      await context.addInitScript(() => { (window as DebugWindow).__POUW_DEBUG__ = true })
      const page = await context.newPage()
      await page.goto(relays[i % relays.length]!.url)
      contexts.push(context)
      pages.push(page)
    }
    for (const page of pages) await expect(page.getByTestId('local-peer-id')).not.toHaveText('—', { timeout: 60_000 })
    const ids = await Promise.all(pages.map(async (p) => ((await p.getByTestId('local-peer-id').textContent()) ?? '').trim()))
    const linked = async (): Promise<number> => {
      let n = 0
      for (let i = 0; i < pages.length; i++) {
        const peers = await pages[i]!.locator('[data-testid=conn-row][data-transport=webrtc]').evaluateAll((els) => els.map((e) => e.getAttribute('data-peer')))
        n += ids.filter((id, j) => j > i && peers.includes(id)).length
      }
      return n
    }
    const pairs = (TABS * (TABS - 1)) / 2
    await waitFor(async () => (await linked()) === pairs, { timeoutMs: 90_000, intervalMs: 250, message: 'all pairs linked' }).catch(() => {})
    const m = Date.now() - opened
    const n = await linked()
    const stats = await Promise.all(pages.map((p) => p.evaluate(() => (window as DebugWindow).__pouw!.network.stats())))
    const r = { attempts: 0, ok: 0, timedOut: 0, failed: 0 }
    for (const s of stats) {
      for (const k of Object.keys(r) as (keyof typeof r)[]) r[k] += s.dials[k]
      dialMs.push(...s.dialMs)
      if (s.firstDirectAt !== null) firstMs.push(s.firstDirectAt - s.startedAt)
    }
    for (const k of Object.keys(r) as (keyof typeof r)[]) total[k] += r[k]
    total.linkedPairs += n
    total.pairs += pairs
    meshMs.push(m)
    console.log(`[dialbench] round ${round}: ${n}/${pairs} pairs linked in ${m} ms; dials ${r.ok}/${r.attempts} ok, ${r.timedOut} timed out, ${r.failed} failed; errors: ${JSON.stringify(stats.map((s) => s.dials.lastError).filter(Boolean))}`)
    await Promise.all(contexts.map((c) => c.close()))
  }
  const q = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN
  console.log(`[dialbench] total: ${total.linkedPairs}/${total.pairs} pairs linked; dials ${total.ok}/${total.attempts} ok ` +
    `(${((100 * total.ok) / Math.max(1, total.attempts)).toFixed(1)}%), ${total.timedOut} timed out, ${total.failed} failed; ` +
    `dial ms median ${q(dialMs, 0.5)} p90 ${q(dialMs, 0.9)}; first direct link ms median ${q(firstMs, 0.5)}; all pairs linked ms ${JSON.stringify(meshMs)}`)
})
