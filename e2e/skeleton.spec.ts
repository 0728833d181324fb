import type { Page } from '@playwright/test'
import { expect, getJson, getStatus, test, waitFor } from './testnet'

/**
 * The walking skeleton (issue 2): a volunteer tab trains the MNIST task in a
 * Web Worker, mines blocks from its updates, and a relay verifies them by
 * re-running the lucky iteration.
 *
 * Difficulty: the miner tries 118 nonces per iteration, so 1,500 expected
 * hashes per block means one block every ~13 iterations: several blocks in a
 * few seconds without flooding the relay.
 */
const DIFFICULTY = '1500'
/**
 * A 10-minute target block time, far above this test's pace: every block makes the next one
 * harder (about 3% a block), so the tab must compute each next block's bits itself after each of
 * its own blocks (a wrong one would be refused as LEDGER_BAD_BITS).
 */
const BLOCK_SECONDS = '600'

/** What this test reads of /api/status's `chain`. */
interface ChainStatus { bits: number; nextBits: number; window: { hash: string; time: number; bits: number }[]; difficulty: { targetSpacing: number } }

/** The target a compact bits value encodes (Bitcoin's nBits: exponent byte, 3-byte mantissa). */
function targetOf(bits: number): bigint {
  const exponent = bits >>> 24
  const mantissa = BigInt(bits & 0x7f_ffff)
  return exponent <= 3 ? mantissa >> BigInt(8 * (3 - exponent)) : mantissa << BigInt(8 * (exponent - 3))
}

async function num(page: Page, id: string): Promise<number> {
  return parseFloat((await page.getByTestId(id).first().textContent()) ?? '')
}

interface BlockInfo { height: number; hash: string; miner: string | null; iteration: number; backend: string }

test('@skeleton a tab trains, its loss falls, the relay accepts its blocks and keeps them after SIGKILL', async ({ page, testnet }) => {
  const net = await testnet({ env: { POUW_DIFFICULTY: DIFFICULTY, POUW_BLOCK_SECONDS: BLOCK_SECONDS } })
  await page.goto(net.url)
  await expect(page.getByTestId('relay-status')).toHaveAttribute('data-connected', 'true', { timeout: 30_000 })
  await page.getByTestId('start').click()
  await expect(page.getByTestId('status')).toHaveText('training', { timeout: 120_000 })
  await expect(page.getByTestId('backend')).not.toBeEmpty()

  // the mean loss of the session's first 20 iterations, however late this poll sees it (a fast machine trains many between polls)
  const early = await waitFor(async () => num(page, 'loss-first'), { timeoutMs: 120_000, message: 'the first 20 iterations' })
  expect(early).toBeGreaterThan(1) // an untrained 10-class model starts near ln 10 = 2.3

  await test.step('the relay accepts a block the tab mined', async () => {
    await waitFor(async () => (await getStatus(net.url)).height >= 2, { timeoutMs: 180_000, message: 'relay height >= 2' })
    await expect.poll(() => num(page, 'blocks-accepted'), { timeout: 30_000 }).toBeGreaterThanOrEqual(1)
    const minerId = (await page.getByTestId('miner-id').textContent())?.trim() ?? ''
    const blocks = (await (await fetch(`${net.url}/api/blocks?limit=5`)).json()) as BlockInfo[]
    expect(blocks.length).toBeGreaterThanOrEqual(2)
    for (const b of blocks.filter((x) => x.height > 0)) {
      expect(b.miner).toBe(minerId)
      expect(b.iteration).toBeGreaterThanOrEqual(2) // committed k = 2 iterations ahead
    }
    await expect(page.locator('[data-testid=block-row][data-verdict=rejected]')).toHaveCount(0)
  })

  await test.step('the loss falls', async () => {
    await waitFor(async () => (await num(page, 'iterations')) >= 300, { timeoutMs: 300_000, message: '300 iterations' })
    const late = await num(page, 'loss-avg')
    expect(late).toBeLessThan(early * 0.5)
    expect(await num(page, 'accuracy-avg')).toBeGreaterThan(0.75)
  })

  await test.step('the difficulty rose, and the tab mined with the adjusted bits', async () => {
    const s = await getJson<{ chain: ChainStatus }>(`${net.url}/api/status`)
    expect(s.chain.difficulty.targetSpacing).toBe(Number(BLOCK_SECONDS))
    expect(s.chain.window.at(-1)!.bits).not.toBe(s.chain.bits) // the tip itself carries adjusted bits
    expect(targetOf(s.chain.nextBits)).toBeLessThan(targetOf(s.chain.bits))
    await expect.poll(() => num(page, 'blocks-accepted')).toBeGreaterThanOrEqual(3)
    // the page shows it too: about this many header hashes per block, more than at genesis
    const shown = Number(/~(\d+) hashes\/block/.exec((await page.getByTestId('difficulty').textContent()) ?? '')?.[1])
    expect(shown).toBeGreaterThan(Number(DIFFICULTY) * 1.02)
    await expect(page.locator('[data-testid=block-row][data-verdict=rejected]')).toHaveCount(0)
  })

  await test.step('a relay killed with SIGKILL and restarted keeps its chain', async () => {
    await page.getByTestId('stop').click()
    await expect(page.getByTestId('status')).toHaveText('idle', { timeout: 30_000 })
    await new Promise((r) => setTimeout(r, 1000)) // let the last verdicts settle
    const before = await getStatus(net.url)
    const blocksBefore = (await (await fetch(`${net.url}/api/blocks?limit=50`)).json()) as BlockInfo[]
    expect(before.height).toBeGreaterThanOrEqual(2)
    await net.kill('SIGKILL')
    await net.restart()
    const after = await getStatus(net.url)
    expect(after.height).toBe(before.height)
    expect(after.hash).toBe(before.hash)
    const blocksAfter = (await (await fetch(`${net.url}/api/blocks?limit=50`)).json()) as BlockInfo[]
    expect(blocksAfter.map((b) => b.hash)).toEqual(blocksBefore.map((b) => b.hash))
  })
})

/** Each fault makes the tab's miner cheat in one way; the relay must name it. */
const FAULTS: [fault: string, code: string][] = [
  ['nonce', 'POUW_NONCE_MISMATCH'],
  ['model', 'POUW_MODEL_HASH_MISMATCH'],
  ['batch', 'POUW_BATCH_HASH_MISMATCH'], // trains another batch than the one it names
  ['map', 'POUW_MAP_MISMATCH'],
  ['signature', 'POUW_BAD_SIGNATURE'],
]

test('@skeleton tampered blocks are rejected with their reason and change nothing', async ({ page, testnet }) => {
  const net = await testnet({ env: { POUW_DIFFICULTY: DIFFICULTY } })
  const genesis = await getStatus(net.url)
  for (const [fault, code] of FAULTS) {
    await test.step(`fault=${fault} -> ${code}`, async () => {
      await page.goto(`${net.url}?fault=${fault}&backend=wasm`)
      await expect(page.getByTestId('fault-banner')).toBeVisible()
      await expect(page.getByTestId('relay-status')).toHaveAttribute('data-connected', 'true', { timeout: 30_000 })
      await page.getByTestId('start').click()
      const row = page.locator(`[data-testid=block-row][data-verdict=rejected][data-reason=${code}]`).first()
      await expect(row).toBeVisible({ timeout: 180_000 })
      await expect(page.locator('[data-testid=block-row][data-verdict=accepted]')).toHaveCount(0)
      await page.getByTestId('stop').click()
      const rejections = (await (await fetch(`${net.url}/api/rejections?limit=100`)).json()) as { code: string }[]
      expect(rejections.map((r) => r.code)).toContain(code)
      const status = await getStatus(net.url)
      expect(status.height).toBe(genesis.height)
      expect(status.hash).toBe(genesis.hash)
    })
  }
})
