import type { Page } from '@playwright/test'
import { walletAddress } from './tabs'
import { expect, getJson as json, getStatus, test, waitFor } from './testnet'

/**
 * Money on the chain (issue 4's ledger, wired): a volunteer's block rewards pay the wallet key its
 * page keeps in IndexedDB; once they mature, the volunteer pays a second volunteer from the page's
 * wallet form; the relay's mempool takes the signed transfer, the first tab's miner puts it into a
 * block through the relay's block template, and every coin is accounted for.
 *
 * Coinbase maturity 2 (a testnet setting; the default is 10) so that rewards are spendable within
 * seconds of training.
 */
const DIFFICULTY = '1500'
const MATURITY = '2'
const UNITS = 100_000_000n

interface WalletJson {
  key: string
  height: number
  balance: { total: string; spendable: string; immature: string; locked: string }
  coins: { txHash: string; amount: string; coinbase: boolean; pending: boolean; height: number }[]
}
interface Supply { height: number; coinbases: string; fees: string; utxo: string }

/** The profile's wallet key, once it is kept in IndexedDB. */
async function persistedWallet(page: Page): Promise<string> {
  const address = await walletAddress(page)
  await expect(page.getByTestId('wallet-address')).toHaveAttribute('data-persisted', 'true')
  return address
}

test('@wallet block rewards pay the page\'s wallet; it pays another volunteer through a mined block; the money reconciles', async ({ page, browser, testnet }) => {
  const net = await testnet({ env: { POUW_DIFFICULTY: DIFFICULTY, POUW_COINBASE_MATURITY: MATURITY } })
  await page.goto(net.url)
  await expect(page.getByTestId('relay-status')).toHaveAttribute('data-connected', 'true', { timeout: 30_000 })
  const payer = await persistedWallet(page)
  const verifier = ((await getStatus(net.url)).chain as { verifiers: string[] }).verifiers[0]!

  // a second volunteer in its own browser profile: another wallet key
  const other = await browser.newContext()
  const page2 = await other.newPage()
  await page2.goto(net.url)
  const payee = await persistedWallet(page2)
  expect(payee).not.toBe(payer)

  await page.getByTestId('start').click()
  await expect(page.getByTestId('status')).toHaveText('training', { timeout: 120_000 })

  await test.step('block rewards pay the wallet key, not the miner key, and mature', async () => {
    await waitFor(async () => BigInt((await json<WalletJson>(`${net.url}/api/wallet?key=${payer}`)).balance.spendable) > 0n,
      { timeoutMs: 240_000, message: 'a mature block reward' })
    const minerId = (await page.getByTestId('miner-id').textContent())?.trim() ?? ''
    expect(minerId).toMatch(/^[0-9a-f]{64}$/)
    expect(minerId).not.toBe(payer)
    // past the block on genesis: a block whose coinbase collected its parent's approval (the relay, its one verifier) pays too
    await waitFor(async () => (await json<WalletJson>(`${net.url}/api/wallet?key=${payer}`)).coins.some((c) => c.coinbase && c.height >= 2) || undefined,
      { timeoutMs: 240_000, message: 'a block reward claimed with its parent\'s collected approval' })
    // every block is this tab's, so every coinbase pays the wallet and the relay, the one verifier, whose approval of
    // the parent it collects: 10% of the subsidy (ledger utxo.ts); the two hold every coin. A block on a parent no
    // verifier approved yet claims no subsidy and makes no coin (ledger collect.ts).
    await waitFor(async () => {
      const [w, v, supply] = [await json<WalletJson>(`${net.url}/api/wallet?key=${payer}`), await json<WalletJson>(`${net.url}/api/wallet?key=${verifier}`), await json<Supply>(`${net.url}/api/supply`)]
      if (w.height !== supply.height || v.height !== supply.height) return undefined
      const coinbases = w.coins.filter((c) => c.coinbase)
      expect(coinbases.length).toBeGreaterThan(0)
      expect(coinbases.length).toBeLessThanOrEqual(w.height)
      // (the relay may have staked some of its rewards on evaluator tickets, whose fees are in the tab's coinbases)
      expect(BigInt(v.balance.total)).toBeGreaterThan(0n)
      expect(BigInt(w.balance.total) + BigInt(v.balance.total)).toBe(BigInt(supply.utxo))
      return true
    }, { timeoutMs: 30_000, message: 'the wallets and the supply at one height' })
    await expect.poll(async () => Number(await page.getByTestId('wallet-spendable').getAttribute('data-value')), { timeout: 15_000 }).toBeGreaterThan(0)
  })

  await test.step('the form refuses bad input with a clear message and sends nothing', async () => {
    const send = async (to: string, amount: string): Promise<string> => {
      await page.getByTestId('send-to').fill(to)
      await page.getByTestId('send-amount').fill(amount)
      await page.getByTestId('send-submit').click()
      await expect(page.getByTestId('send-result')).toHaveAttribute('data-state', 'error')
      return (await page.getByTestId('send-result').textContent()) ?? ''
    }
    expect(await send(payee, 'ten')).toContain('not an amount')
    expect(await send('not-a-key', '1')).toContain('64 lowercase hex digits')
    expect(await send(payee, '99999999')).toContain('LEDGER_INSUFFICIENT_FUNDS')
    // nothing of the payer's waits in the mempool (it may hold the relay's own evaluator ticket purchase)
    expect((await json<WalletJson>(`${net.url}/api/wallet?key=${payer}`)).coins.some((c) => c.pending)).toBe(false)
  })

  const amount = 7n * UNITS + 25_000_000n // 7.25 coins
  await test.step('a payment goes through the mempool into a block the tab mines', async () => {
    await page.getByTestId('send-to').fill(payee)
    await page.getByTestId('send-amount').fill('7.25')
    await page.getByTestId('send-submit').click()
    await expect(page.getByTestId('send-result')).toHaveAttribute('data-state', 'ok', { timeout: 30_000 })
    const tx = await page.getByTestId('send-result').getAttribute('title')
    expect(tx).toMatch(/^[0-9a-f]{64}$/)
    const received = await waitFor(async () => {
      const w = await json<WalletJson>(`${net.url}/api/wallet?key=${payee}`)
      return w.coins.length > 0 ? w : undefined
    }, { timeoutMs: 180_000, message: 'the payment in a block' })
    expect(received.coins.map((c) => [c.txHash, c.amount, c.coinbase])).toEqual([[tx, amount.toString(), false]])
    // the payee's page shows it
    await expect.poll(async () => BigInt((await page2.getByTestId('wallet-spendable').getAttribute('data-value')) ?? '0'), { timeout: 15_000 }).toBe(amount)
  })

  await test.step('every coin is accounted for: the UTXO set is the coinbases minus the fees, held by the two wallets and the verifier', async () => {
    await page.getByTestId('stop').click()
    await expect(page.getByTestId('status')).toHaveText('idle', { timeout: 30_000 })
    const supply = await json<Supply>(`${net.url}/api/supply`)
    expect(BigInt(supply.fees)).toBeGreaterThan(0n)
    expect(BigInt(supply.utxo)).toBe(BigInt(supply.coinbases) - BigInt(supply.fees))
    // read at one tip: the tab's last block may still be on its way when it stops
    await waitFor(async () => {
      const [s, ...w] = await Promise.all([json<Supply>(`${net.url}/api/supply`), ...[payer, payee, verifier].map((k) => json<WalletJson>(`${net.url}/api/wallet?key=${k}`))])
      const same = w.every((x) => (x as WalletJson).height === s!.height)
      return same && w.reduce((a, x) => a + BigInt((x as WalletJson).balance.total), 0n) === BigInt((s as Supply).utxo) ? true : undefined
    }, { timeoutMs: 30_000, message: 'the two wallets and the verifier holding the whole supply' })
    expect(BigInt((await json<WalletJson>(`${net.url}/api/wallet?key=${payee}`)).balance.total)).toBe(amount)
  })

  await test.step('the wallet key survives a reload', async () => {
    await page.reload()
    expect(await persistedWallet(page)).toBe(payer)
  })
  await other.close()
})
