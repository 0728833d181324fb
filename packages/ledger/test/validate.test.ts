import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { computeMerkleRoot, headerHash, toHex, workFromBits, type Block } from '@pouw/protocol'
import {
  checkBlockSyntax, createGenesis, createGenesisEntry, difficultyToBits, nextBits, timingOf, validateBlock, type ChainEntry,
} from '../src/index.js'
import { NOW, PARAMS, blockOn, mine, minedOn, recipient } from './fixtures.js'

const genesis = createGenesisEntry(PARAMS)

function rejects(parent: ChainEntry, block: Block, code: string, now = NOW): void {
  assert.throws(() => validateBlock(parent, block, PARAMS, now, [timingOf(parent)]), (e: { code?: string }) => e.code === code)
}

describe('params', () => {
  it('genesis is fixed by genesisTime and bits (frozen vector)', () => {
    const g = createGenesis(PARAMS)
    assert.equal(toHex(headerHash(g.header)), 'd8f0f8c163bc144c768d1638e6744b1137ad282855d09733485fa59ff8f9bfe6')
    assert.deepEqual(g.header.merkleRoot, computeMerkleRoot([{ type: 'coinbase', height: 0, outputs: [] }]))
    assert.equal(genesis.height, 0)
    assert.equal(genesis.miner, null)
    assert.equal(genesis.cumulativeWork, workFromBits(PARAMS.bits))
    assert.notEqual(toHex(headerHash(createGenesis({ ...PARAMS, genesisTime: 1 }).header)), genesis.hashHex)
  })

  it('difficultyToBits gives about N hashes per block', () => {
    assert.equal(difficultyToBits(2n), 0x207fffff)
    for (const n of [1n, 2n, 3n, 1000n, 1n << 40n]) {
      const work = workFromBits(difficultyToBits(n))
      assert.ok(work >= n && work - n <= n / 10_000n, `${n} -> ${work}`)
    }
    assert.throws(() => difficultyToBits(0n), RangeError)
  })

  it('nextBits is params.bits for now', () => {
    assert.equal(nextBits([timingOf(genesis)], PARAMS), PARAMS.bits)
  })
})

describe('validateBlock', () => {
  it('accepts a valid block and returns its hash, height and work', () => {
    const block = minedOn(genesis)
    const v = validateBlock(genesis, block, PARAMS, NOW, [timingOf(genesis)])
    assert.deepEqual(v.hash, headerHash(block.header))
    assert.equal(v.height, 1)
    assert.equal(v.work, workFromBits(PARAMS.bits))
    assert.equal(v.cumulativeWork, genesis.cumulativeWork + v.work)
    assert.deepEqual(validateBlock(genesis, block, PARAMS, NOW, [timingOf(genesis)]), v, 'deterministic')
  })

  it('bits must be nextBits(parent)', () => {
    rejects(genesis, minedOn(genesis, { bits: difficultyToBits(1n) }), 'LEDGER_BAD_BITS')
    rejects(genesis, minedOn(genesis, { bits: difficultyToBits(4n) }), 'LEDGER_BAD_BITS')
    rejects(genesis, blockOn(genesis, { bits: 0x04923456 }), 'LEDGER_BAD_BITS') // negative target
  })

  it('time must not be before the parent', () => {
    const t = genesis.header.time
    validateBlock(genesis, minedOn(genesis, { time: t }), PARAMS, NOW, [timingOf(genesis)])
    rejects(genesis, minedOn(genesis, { time: t - 1 }), 'LEDGER_TIME_TOO_OLD')
  })

  it('time must not be more than maxFutureSeconds ahead of now', () => {
    const limit = NOW + PARAMS.maxFutureSeconds
    validateBlock(genesis, minedOn(genesis, { time: limit }), PARAMS, NOW, [timingOf(genesis)])
    rejects(genesis, minedOn(genesis, { time: limit + 1 }), 'LEDGER_TIME_TOO_NEW')
  })

  it('merkle root must commit to the transactions', () => {
    rejects(genesis, minedOn(genesis, { merkleRoot: new Uint8Array(32).fill(7) }), 'LEDGER_BAD_MERKLE')
    const other = computeMerkleRoot([{ type: 'coinbase', height: 1, outputs: [{ amount: 1n, recipient: recipient(9) }] }])
    rejects(genesis, minedOn(genesis, { merkleRoot: other }), 'LEDGER_BAD_MERKLE')
  })

  it('coinbase height must be parent height + 1', () => {
    rejects(genesis, minedOn(genesis, { height: 0 }), 'LEDGER_BAD_COINBASE')
    rejects(genesis, minedOn(genesis, { height: 2 }), 'LEDGER_BAD_COINBASE')
  })

  it('coinbase may pay at most the subsidy, split or not', () => {
    const half = PARAMS.subsidy / 2n
    validateBlock(genesis, minedOn(genesis, { outputs: [{ amount: half, recipient: recipient(1) }, { amount: half, recipient: recipient(2) }] }), PARAMS, NOW, [timingOf(genesis)])
    validateBlock(genesis, minedOn(genesis, { outputs: [] }), PARAMS, NOW, [timingOf(genesis)])
    rejects(genesis, minedOn(genesis, { outputs: [{ amount: PARAMS.subsidy + 1n, recipient: recipient(1) }] }), 'LEDGER_BAD_COINBASE')
    rejects(genesis, minedOn(genesis, { outputs: [{ amount: half + 1n, recipient: recipient(1) }, { amount: half, recipient: recipient(2) }] }), 'LEDGER_BAD_COINBASE')
  })

  it('a block holds exactly one transaction, the coinbase', () => {
    const one = blockOn(genesis)
    const none = mine({ header: { ...one.header, merkleRoot: computeMerkleRoot([]) }, txs: [] })
    rejects(genesis, none, 'LEDGER_BAD_COINBASE')
    const txs = [one.txs[0]!, one.txs[0]!]
    rejects(genesis, mine({ header: { ...one.header, merkleRoot: computeMerkleRoot(txs) }, txs }), 'LEDGER_BAD_COINBASE')
  })

  it('header hash must meet the target', () => {
    rejects(genesis, mine(blockOn(genesis), true), 'LEDGER_HIGH_HASH')
  })

  it('prevHash must be the given parent', () => {
    const elsewhere = minedOn(createGenesisEntry({ ...PARAMS, genesisTime: 5 }))
    assert.doesNotThrow(() => checkBlockSyntax(elsewhere, PARAMS), 'context-free rules hold')
    rejects(genesis, elsewhere, 'LEDGER_PARENT_UNKNOWN')
  })
})
