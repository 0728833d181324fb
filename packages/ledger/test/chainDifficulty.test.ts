import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { targetFromBits, toHex } from '@pouw/protocol'
import {
  Chain, MemoryStore, computeNextBits, difficultyToBits, timingOf, type ChainEntry, type ChainParams, type DifficultyParams,
} from '../src/index.js'
import { NOW, PARAMS, mine, blockOn } from './fixtures.js'

/**
 * Difficulty adjustment as a consensus rule of the Chain: every block must
 * carry the bits computeNextBits gives for its own branch's last blocks.
 * Genesis needs about 8 header hashes and the limit is 2, so the target can
 * move both ways and mining stays instant.
 */
const DIFFICULTY: DifficultyParams = { targetSpacing: 60, halfLife: 600, maxSolveDeviation: 300, powLimitBits: difficultyToBits(2n) }
const ADJUSTING: ChainParams = { ...PARAMS, networkName: 'pouw-test-asert', bits: difficultyToBits(8n), difficulty: DIFFICULTY }

/** Adds blocks `spacing` seconds apart, each with the bits the rule asks for (computed here from the headers). */
async function extend(chain: Chain, parent: ChainEntry, spacings: number[], seed = 1): Promise<ChainEntry[]> {
  const headers: ChainEntry[] = [parent]
  for (let e = parent; e.height > 0 && headers.length < 4;) {
    e = (await chain.getEntry(toHex(e.header.prevHash)))!
    headers.unshift(e)
  }
  const out: ChainEntry[] = []
  for (const spacing of spacings) {
    const bits = computeNextBits(headers.slice(-4).map(timingOf), DIFFICULTY)
    const block = mine(blockOn(parent, { time: parent.header.time + spacing, bits, seed }, ADJUSTING))
    parent = (await chain.addBlock(block, { now: NOW })).entry
    headers.push(parent)
    out.push(parent)
  }
  return out
}

describe('Chain with difficulty adjustment', () => {
  it('requires the adjusted bits: fast blocks make the target smaller, slow ones larger', async () => {
    const chain = await Chain.open(new MemoryStore(), ADJUSTING)
    const genesisTarget = targetFromBits(ADJUSTING.bits)
    const fast = await extend(chain, chain.tip(), [10, 10, 10, 10, 10, 10])
    const harder = targetFromBits(chain.nextBits())
    assert.ok(harder < genesisTarget, 'six blocks 10 s apart against a 60 s target: harder')
    assert.notEqual(fast.at(-1)!.header.bits, ADJUSTING.bits, 'the rule moved the bits')
    // a block with the genesis bits is refused now
    const stale = mine(blockOn(chain.tip(), { time: chain.tip().header.time + 60 }, ADJUSTING))
    await assert.rejects(chain.addBlock(stale, { now: NOW }), (e: { code?: string }) => e.code === 'LEDGER_BAD_BITS')
    await extend(chain, chain.tip(), [200, 200, 200, 200, 200, 200])
    assert.ok(targetFromBits(chain.nextBits()) > harder, 'slow blocks: easier again')
  })

  it('keeps the tip window across a reopen, and judges a side branch by its own ancestors', async () => {
    const store = new MemoryStore()
    const chain = await Chain.open(store, ADJUSTING)
    const main = await extend(chain, chain.tip(), [10, 10, 10, 10])
    const reopened = await Chain.open(store, ADJUSTING)
    assert.equal(reopened.nextBits(), chain.nextBits())
    assert.deepEqual(reopened.tipWindow().map((e) => e.hashHex), main.map((e) => e.hashHex))
    // a branch from height 1 with slow blocks: its bits differ from the main chain's at the same height
    const side = await extend(reopened, main[0]!, [300, 300], 2)
    assert.notEqual(side[1]!.header.bits, main[2]!.header.bits)
    assert.equal(reopened.tip().hashHex, main.at(-1)!.hashHex, 'the shorter branch stays on the side')
    // on the side branch the main chain's next bits are refused, the branch's own are accepted
    const genesis = (await reopened.getByHeight(0))!
    const sideBits = computeNextBits([genesis, main[0]!, ...side].map(timingOf), DIFFICULTY)
    assert.notEqual(sideBits, reopened.nextBits())
    const time = side[1]!.header.time + 60
    const wrong = mine(blockOn(side[1]!, { time, bits: reopened.nextBits(), seed: 2 }, ADJUSTING))
    await assert.rejects(reopened.addBlock(wrong, { now: NOW }), (e: { code?: string }) => e.code === 'LEDGER_BAD_BITS')
    const right = mine(blockOn(side[1]!, { time, bits: sideBits, seed: 2 }, ADJUSTING))
    assert.equal((await reopened.addBlock(right, { now: NOW })).status, 'side')
  })

  it('without difficulty params every block needs params.bits', async () => {
    const chain = await Chain.open(new MemoryStore(), PARAMS)
    const block = mine(blockOn(chain.tip(), { time: chain.tip().header.time + 1 }))
    await chain.addBlock(block, { now: NOW })
    assert.equal(chain.nextBits(), PARAMS.bits)
    // any other bits are refused, however fast the blocks came
    const other = mine(blockOn(chain.tip(), { time: chain.tip().header.time + 1, bits: difficultyToBits(3n) }))
    await assert.rejects(chain.addBlock(other, { now: NOW }), (e: { code?: string }) => e.code === 'LEDGER_BAD_BITS')
  })
})

describe('Chain with difficulty adjustment: reorg', () => {
  it('a side branch that overtakes the main chain brings its own tip window and next bits', async () => {
    const chain = await Chain.open(new MemoryStore(), ADJUSTING)
    const main = await extend(chain, chain.tip(), [10, 10, 10])
    const side = await extend(chain, main[0]!, [200, 200, 200], 2)
    assert.equal(chain.tip().hashHex, side.at(-1)!.hashHex, 'the longer branch (more work) is the main chain now')
    const genesis = (await chain.getByHeight(0))!
    assert.deepEqual(chain.tipWindow().map((e) => e.hashHex), [main[0]!, ...side].map((e) => e.hashHex))
    assert.equal(chain.nextBits(), computeNextBits([genesis, main[0]!, ...side].slice(-4).map(timingOf), DIFFICULTY))
  })
})
