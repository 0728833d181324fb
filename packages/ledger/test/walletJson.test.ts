import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { toHex, txHash, verifyReference } from '@pouw/protocol'
import { COINBASE_MATURITY, Chain, MemoryStore, Wallet, balanceOf, coinFromJson, coinToJson, walletSourceFromJson, type WalletJson } from '../src/index.js'
import { NOW, PARAMS, keyPair, minedOn } from './fixtures.js'

const A = keyPair(1)
const B = keyPair(2)

/** A chain whose blocks 1..maturity+1 each pay A the subsidy. */
async function chainWithCoins(): Promise<Chain> {
  const chain = await Chain.open(new MemoryStore(), PARAMS)
  let parent = chain.tip()
  for (let i = 0; i <= COINBASE_MATURITY; i++) {
    parent = (await chain.addBlock(minedOn(parent, { outputs: [{ amount: PARAMS.subsidy, recipient: A.publicKey }], seed: i }), { now: NOW })).entry
  }
  return chain
}

async function walletJsonOf(chain: Chain, key: Uint8Array): Promise<WalletJson> {
  const coins = await chain.coinsOf(key)
  const height = chain.tip().height
  const b = balanceOf(coins, height + 1, chain.params)
  return {
    key: toHex(key), height, coins: coins.map((c) => coinToJson(c, false)),
    balance: { total: b.total.toString(), spendable: b.spendable.toString(), immature: b.immature.toString(), locked: b.locked.toString() },
  }
}

describe('wallet JSON (GET /api/wallet) and the WalletSource read back from it', () => {
  it('round-trips coins, and a wallet built on the JSON signs the same transfer as one built on the chain', async () => {
    const chain = await chainWithCoins()
    const coins = await chain.coinsOf(A.publicKey)
    for (const c of coins) assert.deepEqual(coinFromJson(JSON.parse(JSON.stringify(coinToJson(c, true)))), { ...c, pending: true })
    const json = JSON.parse(JSON.stringify(await walletJsonOf(chain, A.publicKey))) as WalletJson
    // heights 1..11 paid A; at height 12 the coins of heights 1 and 2 are mature (12 >= h + 10)
    assert.equal(json.balance.spendable, String(PARAMS.subsidy * 2n))
    assert.equal(json.balance.immature, String(PARAMS.subsidy * BigInt(COINBASE_MATURITY - 1)))
    const source = walletSourceFromJson(json, PARAMS)
    const fromJson = await new Wallet(A).send(source, B.publicKey, 1234n)
    const fromChain = await new Wallet(A).send(chain, B.publicKey, 1234n)
    assert.deepEqual(fromJson, fromChain)
    // and the chain takes it
    const r = await chain.addBlock(minedOn(chain.tip(), { outputs: [{ amount: PARAMS.subsidy, recipient: B.publicKey }], txs: [fromJson] }), { now: NOW, verify: verifyReference })
    assert.equal(r.status, 'extended')
    const paid = (await chain.coinsOf(B.publicKey)).filter((c) => !c.coin.coinbase)
    assert.deepEqual(paid.map((c) => [toHex(c.outpoint.txHash), c.coin.amount]), [[toHex(txHash(fromJson)), 1234n]])
    // a coin marked pending is excluded
    const pendingJson: WalletJson = { ...json, coins: json.coins.map((c, i) => ({ ...c, pending: i === 0 })) }
    const pendingSource = walletSourceFromJson(pendingJson, PARAMS)
    const avoiding = await new Wallet(A).send(pendingSource, B.publicKey, 1234n, { exclude: pendingSource.pending })
    assert.notEqual(toHex(avoiding.inputs[0]!.prevout.txHash), json.coins[0]!.txHash)
  })

  it('refuses malformed coins with a clear error', async () => {
    const chain = await chainWithCoins()
    const good = coinToJson((await chain.coinsOf(A.publicKey))[0]!, false)
    const bad: [unknown, RegExp][] = [
      [null, /not an object/],
      [{ ...good, txHash: 'zz' }, /txHash/],
      [{ ...good, index: -1 }, /index/],
      [{ ...good, amount: '1' }, /disagrees/],
      [{ ...good, output: good.output.slice(0, 10) }, /truncated|output/i],
      [{ ...good, coinbase: 'yes' }, /coinbase/],
      [{ ...good, pending: undefined }, /pending/],
    ]
    for (const [j, msg] of bad) assert.throws(() => coinFromJson(j), (e: Error & { code?: string }) => msg.test(e.message) && /^PROTOCOL_/.test(e.code ?? ''), String(msg))
  })
})
