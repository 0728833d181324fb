import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { blockToBytes, headerHash, toHex, workFromBits, type Block } from '@pouw/protocol'
import { CHAIN_KEYS, Chain, LevelStore, MemoryStore, beats, createChainEntry, createGenesis, type ChainEntry, type KeyValueStore } from '../src/index.js'
import { NOW, PARAMS, minedOn, recipient } from './fixtures.js'

const WORK = workFromBits(PARAMS.bits)
const hex = (b: Block): string => toHex(headerHash(b.header))
const hexes = (es: ChainEntry[]): string[] => es.map((e) => e.hashHex)

async function dump(store: KeyValueStore): Promise<[string, string][]> {
  const out: [string, string][] = []
  for await (const [k, v] of store.iterate('')) out.push([k, toHex(v)])
  return out
}

/** Adds blocks one after another on top of `parent`; returns their entries. */
async function extend(chain: Chain, parent: ChainEntry, n: number, seed = 1): Promise<ChainEntry[]> {
  const out: ChainEntry[] = []
  for (let i = 0; i < n; i++) {
    parent = (await chain.addBlock(minedOn(parent, { seed }), { now: NOW })).entry
    out.push(parent)
  }
  return out
}

/** The entry a block on `parent` gets, without a chain. */
const entryOf = (block: Block, parent: ChainEntry): ChainEntry =>
  createChainEntry(block, parent.height + 1, parent.cumulativeWork + WORK, NOW)

async function mainChain(chain: Chain): Promise<string[]> {
  const out: string[] = []
  for (let h = 0; h <= chain.tip().height; h++) out.push((await chain.getByHeight(h))!.hashHex)
  return out
}

describe('Chain', () => {
  it('opens an empty store at genesis', async () => {
    const chain = await Chain.open(new MemoryStore(), PARAMS)
    const g = chain.tip()
    assert.equal(g.height, 0)
    assert.equal(g.hashHex, hex(createGenesis(PARAMS)))
    assert.deepEqual(chain.genesisHash, g.hash)
    assert.deepEqual(await chain.getBlock(g.hashHex), createGenesis(PARAMS))
    assert.deepEqual(await chain.getByHeight(0), g)
    assert.equal(await chain.getByHeight(1), undefined)
    assert.deepEqual(await chain.recent(5), [g])
  })

  it('extends the tip and indexes the main chain', async () => {
    const chain = await Chain.open(new MemoryStore(), PARAMS)
    const g = chain.tip()
    const block = minedOn(g, { seed: 7 })
    const r = await chain.addBlock(block, { now: NOW + 0.5 })
    assert.equal(r.status, 'extended')
    assert.deepEqual(hexes(r.connected), [hex(block)])
    assert.deepEqual(r.disconnected, [])
    assert.deepEqual(r.entry, chain.tip())
    assert.deepEqual(r.entry.miner, recipient(7))
    assert.equal(r.entry.receivedAt, NOW)
    assert.equal(r.entry.cumulativeWork, 2n * WORK)
    assert.deepEqual(await chain.getEntry(r.entry.hashHex), r.entry)
    assert.deepEqual(await chain.getBlock(r.entry.hashHex), block)
    assert.ok(await chain.has(r.entry.hashHex))
    const more = await extend(chain, r.entry, 3)
    assert.equal(chain.tip().height, 4)
    assert.deepEqual(hexes(await chain.recent(2)), hexes(more.slice(1).reverse()))
    assert.deepEqual(await mainChain(chain), [g.hashHex, r.entry.hashHex, ...hexes(more)])
    assert.deepEqual(await chain.recent(0), [])
  })

  it('rejects duplicates and orphans without writing', async () => {
    const store = new MemoryStore()
    const chain = await Chain.open(store, PARAMS)
    const block = minedOn(chain.tip())
    const { entry } = await chain.addBlock(block, { now: NOW })
    const before = await dump(store)
    await assert.rejects(chain.addBlock(block, { now: NOW }), { code: 'LEDGER_DUPLICATE' })
    await assert.rejects(chain.addBlock(createGenesis(PARAMS), { now: NOW }), { code: 'LEDGER_DUPLICATE' })
    const orphan = minedOn({ ...entry, hash: new Uint8Array(32).fill(3), height: 5 })
    await assert.rejects(chain.addBlock(orphan, { now: NOW }), { code: 'LEDGER_PARENT_UNKNOWN' })
    await assert.rejects(chain.addBlock(minedOn(entry, { height: 9 }), { now: NOW }), { code: 'LEDGER_BAD_COINBASE' })
    assert.deepEqual(await dump(store), before)
  })

  it('runs the proof-of-useful-work check last; if it throws, nothing is written', async () => {
    const store = new MemoryStore()
    const chain = await Chain.open(store, PARAMS)
    const g = chain.tip()
    const block = minedOn(g)
    const before = await dump(store)
    const failure = new Error('POUW_MAP_MISMATCH')
    let calls = 0
    const checkProofOfUsefulWork = async (b: Block, parent: ChainEntry, hash: Uint8Array): Promise<void> => {
      calls++
      assert.equal(b, block)
      assert.deepEqual(parent, g)
      assert.deepEqual(hash, headerHash(block.header))
      throw failure
    }
    const extra = { 'evidence/x': new Uint8Array([1]) }
    await assert.rejects(chain.addBlock(block, { now: NOW, checkProofOfUsefulWork, extra }), (e) => e === failure)
    assert.equal(calls, 1)
    await assert.rejects(chain.addBlock(minedOn(g, { time: g.header.time - 1 }), { now: NOW, checkProofOfUsefulWork }), { code: 'LEDGER_TIME_TOO_OLD' })
    assert.equal(calls, 1, 'not called for a block that fails validation')
    assert.deepEqual(await dump(store), before)
    assert.equal(chain.tip(), g)

    const r = await chain.addBlock(block, { now: NOW, checkProofOfUsefulWork: async () => { calls++ }, extra })
    assert.equal(r.status, 'extended')
    assert.equal(calls, 2)
    assert.deepEqual(await store.get('evidence/x'), new Uint8Array([1]))
    await assert.rejects(chain.addBlock(minedOn(r.entry), { now: NOW, extra: { [CHAIN_KEYS.tip]: new Uint8Array(32) } }))
  })

  it('writes what the proof-of-useful-work check returns in the block\'s batch, and refuses chain keys from it', async () => {
    const store = new MemoryStore()
    const chain = await Chain.open(store, PARAMS)
    const g = chain.tip()
    const r = await chain.addBlock(minedOn(g), { now: NOW, checkProofOfUsefulWork: async (_b, parent) => ({ 'info/x': new Uint8Array([parent.height + 1]) }) })
    assert.equal(r.status, 'extended')
    assert.deepEqual(await store.get('info/x'), new Uint8Array([1]))
    const before = await dump(store)
    await assert.rejects(chain.addBlock(minedOn(r.entry), { now: NOW, checkProofOfUsefulWork: async () => ({ [CHAIN_KEYS.tip]: new Uint8Array(32) }) }))
    assert.deepEqual(await dump(store), before)
    assert.equal(chain.tip().hashHex, r.entry.hashHex)
  })

  it('on equal work picks the lower tip hash whatever the arrival order', async () => {
    const g = (await Chain.open(new MemoryStore(), PARAMS)).tip()
    const a = [minedOn(g, { seed: 1 })]
    a.push(minedOn(entryOf(a[0]!, g), { seed: 1 }))
    const b = [minedOn(g, { seed: 2 })]
    b.push(minedOn(entryOf(b[0]!, g), { seed: 2 }))
    const tips: string[] = []
    for (const order of [[...a, ...b], [...b, ...a], [a[0]!, b[0]!, b[1]!, a[1]!]]) {
      const chain = await Chain.open(new MemoryStore(), PARAMS)
      for (const block of order) await chain.addBlock(block, { now: NOW })
      tips.push(chain.tip().hashHex)
    }
    const [ha, hb] = [toHex(headerHash(a[1]!.header)), toHex(headerHash(b[1]!.header))]
    const lower = ha < hb ? ha : hb
    assert.deepEqual(tips, [lower, lower, lower])
    assert.equal(beats(entryOf(a[1]!, entryOf(a[0]!, g)), entryOf(b[1]!, entryOf(b[0]!, g))), ha < hb)
  })

  it('switches to a heavier branch and back', async () => {
    const chain = await Chain.open(new MemoryStore(), PARAMS)
    const g = chain.tip()
    const [a1, a2] = await extend(chain, g, 2, 1)
    const b1 = await chain.addBlock(minedOn(g, { seed: 2 }), { now: NOW })
    const b2 = await chain.addBlock(minedOn(b1.entry, { seed: 2 }), { now: NOW })
    const aWins = a2!.hashHex < b2.entry.hashHex
    assert.equal(b2.status, aWins ? 'side' : 'reorg', 'a tie goes to the lower hash')
    if (!aWins) {
      const back = await chain.addBlock(minedOn(a2!, { seed: 1 }), { now: NOW })
      assert.equal(back.status, 'reorg')
      return
    }
    assert.equal(chain.tip().hashHex, a2!.hashHex)
    assert.deepEqual(await mainChain(chain), hexes([g, a1!, a2!]))

    const b3 = await chain.addBlock(minedOn(b2.entry, { seed: 2 }), { now: NOW })
    assert.equal(b3.status, 'reorg')
    assert.deepEqual(hexes(b3.disconnected), hexes([a2!, a1!]))
    assert.deepEqual(hexes(b3.connected), hexes([b1.entry, b2.entry, b3.entry]))
    assert.equal(chain.tip().hashHex, b3.entry.hashHex)
    assert.equal(chain.tip().cumulativeWork, 4n * WORK)
    assert.deepEqual(await mainChain(chain), hexes([g, b1.entry, b2.entry, b3.entry]))
    assert.deepEqual(hexes(await chain.recent(10)), hexes([b3.entry, b2.entry, b1.entry, g]))
    assert.ok(await chain.has(a1!.hashHex), 'the old branch stays stored')

    // and back: A grows past B
    const a3 = await chain.addBlock(minedOn(a2!, { seed: 1 }), { now: NOW })
    assert.equal(a3.status, 'side')
    const a4 = await chain.addBlock(minedOn(a3.entry, { seed: 1 }), { now: NOW })
    assert.equal(a4.status, 'reorg')
    assert.deepEqual(hexes(a4.disconnected), hexes([b3.entry, b2.entry, b1.entry]))
    assert.deepEqual(hexes(a4.connected), hexes([a1!, a2!, a3.entry, a4.entry]))
    assert.deepEqual(await mainChain(chain), hexes([g, a1!, a2!, a3.entry, a4.entry]))
  })

  it('serialises concurrent addBlock calls', async () => {
    const chain = await Chain.open(new MemoryStore(), PARAMS)
    const g = chain.tip()
    const blocks: Block[] = []
    let parent = g
    for (let i = 0; i < 5; i++) {
      const b = minedOn(parent)
      blocks.push(b)
      parent = { ...parent, hash: headerHash(b.header), hashHex: hex(b), header: b.header, height: parent.height + 1 }
    }
    const rivals = [minedOn(g, { seed: 8 }), minedOn(g, { seed: 9 })]
    const results = await Promise.all([...blocks, ...rivals].map((b) => chain.addBlock(b, { now: NOW })))
    assert.deepEqual(results.map((r) => r.status), ['extended', 'extended', 'extended', 'extended', 'extended', 'side', 'side'])
    assert.equal(chain.tip().hashHex, hex(blocks[4]!))
  })

  it('refuses a store written for another genesis', async () => {
    const store = new MemoryStore()
    await Chain.open(store, PARAMS)
    await Chain.open(store, { ...PARAMS, networkName: 'renamed' }) // the name is not in the genesis
    await assert.rejects(Chain.open(store, { ...PARAMS, genesisTime: PARAMS.genesisTime + 1 }), { code: 'LEDGER_GENESIS_MISMATCH' })
  })

  it('reports corrupt bytes as LEDGER_STORE_CORRUPT', async () => {
    const store = new MemoryStore()
    const chain = await Chain.open(store, PARAMS)
    const { entry } = await chain.addBlock(minedOn(chain.tip()), { now: NOW })
    await store.batch([{ type: 'put', key: CHAIN_KEYS.entry(entry.hashHex), value: new Uint8Array([1, 2]) }])
    await assert.rejects(chain.getEntry(entry.hashHex), { code: 'LEDGER_STORE_CORRUPT' })
    await store.batch([{ type: 'put', key: CHAIN_KEYS.block(entry.hashHex), value: blockToBytes(createGenesis(PARAMS)) }])
    await assert.rejects(chain.getBlock(entry.hashHex), { code: 'LEDGER_STORE_CORRUPT' })
    await assert.rejects(Chain.open(store, PARAMS), { code: 'LEDGER_STORE_CORRUPT' })
  })
})

describe('Chain on LevelStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pouw-ledger-chain-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('persists blocks, entries, the index and the tip across reopen', async () => {
    let store = await LevelStore.open(dir)
    let chain = await Chain.open(store, PARAMS)
    const g = chain.tip()
    const [a1] = await extend(chain, g, 2, 1)
    const b = await extend(chain, g, 3, 2) // reorg onto B
    const extra = { 'annotations/x': new Uint8Array([5, 6]) }
    const lastBlock = minedOn(b[2]!, { seed: 2 })
    const last = await chain.addBlock(lastBlock, { now: NOW, extra })
    const tip = chain.tip()
    const main = await mainChain(chain)
    const recent = await chain.recent(3)
    await store.close()

    store = await LevelStore.open(dir)
    chain = await Chain.open(store, PARAMS)
    try {
      assert.deepEqual(chain.tip(), tip)
      assert.equal(tip.hashHex, last.entry.hashHex)
      assert.equal(tip.height, 4)
      assert.deepEqual(await mainChain(chain), main)
      assert.deepEqual(await chain.recent(3), recent)
      assert.deepEqual(await chain.getEntry(a1!.hashHex), a1)
      assert.deepEqual(await chain.getBlock(tip.hashHex), lastBlock)
      assert.deepEqual(await store.get('annotations/x'), new Uint8Array([5, 6]))
      await assert.rejects(Chain.open(store, { ...PARAMS, bits: 0x1f00ffff }), { code: 'LEDGER_GENESIS_MISMATCH' })
    } finally {
      await store.close()
    }
  })
})
