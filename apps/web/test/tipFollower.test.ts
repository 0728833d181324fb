import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  BLOCK_VERSION, ZERO_HASH, bitsFromTarget, blockToBytes, computeMerkleRoot, fromHex, hashMeetsTarget, headerHash,
  submissionToBytes, targetFromBits, toHex, type BlockHeader, type Tx,
} from '@pouw/protocol'
import type { TipInfo } from '@pouw/trainer'
import { computeNextBits, type DifficultyParams } from '@pouw/ledger'
import { TipFollower, tipBeats } from '../src/tipFollower.js'

// an easy target (about one header in 16 meets it) keeps the grinding short
const BITS = bitsFromTarget((1n << 252n) - 1n)
const GENESIS: TipInfo = { hashHex: '11'.repeat(32), height: 0, nextBits: BITS, subsidy: '5000000000' }

/** A block submission on `parentHex` at `height` whose header meets `bits` (or misses it, with `meets: false`). */
function submission(parentHex: string, height: number, opts: { bits?: number; meets?: boolean; coinbaseHeight?: number; salt?: number; time?: number } = {}): { bytes: Uint8Array; hashHex: string } {
  const bits = opts.bits ?? BITS
  const txs: Tx[] = [{ type: 'coinbase', height: opts.coinbaseHeight ?? height, outputs: [{ amount: 1n, recipient: new Uint8Array(32).fill(opts.salt ?? 7) }] }]
  for (let n = 0; n < 100_000; n++) {
    const nonce = new Uint8Array(32)
    new DataView(nonce.buffer).setUint32(0, n)
    const header: BlockHeader = {
      version: BLOCK_VERSION, prevHash: fromHex(parentHex), merkleRoot: computeMerkleRoot(txs), time: opts.time ?? 1_763_769_700,
      bits, nonce, hashMsg: ZERO_HASH, hashMsgHist: ZERO_HASH,
    }
    const hash = headerHash(header)
    if (hashMeetsTarget(hash, targetFromBits(bits)) === (opts.meets ?? true)) {
      return { bytes: submissionToBytes({ block: blockToBytes({ header, txs }), evidence: new Uint8Array(0) }), hashHex: toHex(hash) }
    }
  }
  throw new Error('no nonce found')
}

function started(): TipFollower {
  const f = new TipFollower()
  assert.equal(f.onVerified(GENESIS), true)
  return f
}

test('fork choice: the higher block wins; at equal height the lower hash', () => {
  assert.equal(tipBeats({ hashHex: 'ff', height: 2 }, { hashHex: '00', height: 1 }), true)
  assert.equal(tipBeats({ hashHex: '00', height: 1 }, { hashHex: 'ff', height: 2 }), false)
  assert.equal(tipBeats({ hashHex: '0a', height: 3 }, { hashHex: '0b', height: 3 }), true)
  assert.equal(tipBeats({ hashHex: '0b', height: 3 }, { hashHex: '0a', height: 3 }), false)
  assert.equal(tipBeats({ hashHex: '0b', height: 3 }, null), true)
})

test("a peer's block extending our tip is followed at once, before any verdict", () => {
  const f = started()
  const b = submission(GENESIS.hashHex, 1)
  const r = f.onPeerBlock(b.bytes)
  assert.deepEqual(r, { adopted: true, tip: { ...GENESIS, hashHex: b.hashHex, height: 1 } })
  assert.deepEqual(f.unverifiedBlocks(), [b.hashHex])
  // and a block on top of that one too
  const c = submission(b.hashHex, 2)
  assert.equal(f.onPeerBlock(c.bytes).adopted, true)
  assert.equal(f.tip?.height, 2)
})

test("peers' blocks that fail the header checks are not followed, each for its reason", () => {
  const f = started()
  assert.deepEqual(f.onPeerBlock(new Uint8Array([1, 2, 3])), { adopted: false, reason: 'malformed' })
  assert.deepEqual(f.onPeerBlock(submission(GENESIS.hashHex, 1, { bits: bitsFromTarget((1n << 253n) - 1n) }).bytes), { adopted: false, reason: 'wrong-bits' })
  assert.deepEqual(f.onPeerBlock(submission(GENESIS.hashHex, 1, { meets: false }).bytes), { adopted: false, reason: 'high-hash' })
  assert.deepEqual(f.onPeerBlock(submission('22'.repeat(32), 1).bytes), { adopted: false, reason: 'parent-unknown' })
  assert.deepEqual(f.onPeerBlock(submission(GENESIS.hashHex, 5, { coinbaseHeight: 5 }).bytes), { adopted: false, reason: 'bad-height' })
  assert.equal(f.tip?.hashHex, GENESIS.hashHex)
})

test('of two blocks at one height, the lower hash is followed whichever came first', () => {
  const a = submission(GENESIS.hashHex, 1, { salt: 1 })
  const b = submission(GENESIS.hashHex, 1, { salt: 2 })
  const [low, high] = a.hashHex < b.hashHex ? [a, b] : [b, a]
  for (const order of [[low, high], [high, low]]) {
    const f = started()
    for (const x of order) f.onPeerBlock(x.bytes)
    assert.equal(f.tip?.hashHex, low.hashHex)
  }
  // our own block loses to a lower-hash sibling too, as it would on the relays
  const f = started()
  f.onOwnBlock(high.hashHex, 1, GENESIS.hashHex, { nextBits: BITS })
  assert.equal(f.onPeerBlock(low.bytes).adopted, true)
  assert.deepEqual(f.onPeerBlock(high.bytes), { adopted: false, reason: 'not-better' })
})

test('a verified tip replaces ours only when it wins; a rejection of a block we built on sends us back', () => {
  const f = started()
  const mine = submission(GENESIS.hashHex, 1)
  f.onOwnBlock(mine.hashHex, 1, GENESIS.hashHex, { nextBits: BITS })
  const peer = submission(mine.hashHex, 2)
  assert.equal(f.onPeerBlock(peer.bytes).adopted, true)
  // the relay's tip is still the genesis: we keep building on the newer blocks
  assert.equal(f.onVerified(GENESIS), false)
  assert.equal(f.tip?.hashHex, peer.hashHex)
  // a rejection of a block we never followed changes nothing
  assert.equal(f.onRejected('33'.repeat(32), GENESIS), false)
  // our own block is rejected: everything above it is dead, back to the relay's tip
  assert.equal(f.onRejected(mine.hashHex, GENESIS), true)
  assert.equal(f.tip?.hashHex, GENESIS.hashHex)
  assert.deepEqual(f.unverifiedBlocks(), [peer.hashHex])
  // a higher verified tip is followed
  const relayTip: TipInfo = { ...GENESIS, hashHex: '44'.repeat(32), height: 3 }
  assert.equal(f.onVerified(relayTip), true)
  assert.equal(f.tip?.hashHex, relayTip.hashHex)
})

test('an accepted block leaves the open list and can be built on by peers', () => {
  const f = started()
  const mine = submission(GENESIS.hashHex, 1)
  f.onOwnBlock(mine.hashHex, 1, GENESIS.hashHex, { nextBits: BITS })
  f.onAccepted(mine.hashHex, 1)
  assert.deepEqual(f.unverifiedBlocks(), [])
  assert.equal(f.onPeerBlock(submission(mine.hashHex, 2).bytes).adopted, true)
})

/** A rule that moves fast: a 60 s target, 100 s half-life; the limit is BITS, so only faster blocks change it. */
const DIFFICULTY: DifficultyParams = { targetSpacing: 60, halfLife: 100, maxSolveDeviation: 300, powLimitBits: BITS }
const rule = (w: readonly { time: number; bits: number }[]): number => computeNextBits(w, DIFFICULTY)
const T0 = 1_763_769_600

test('with difficulty adjustment: peers\' blocks are checked against their parent\'s rule, also on top of our own block', () => {
  const f = new TipFollower(rule)
  const window = [{ time: T0, bits: BITS }]
  f.onVerified({ ...GENESIS, nextBits: rule(window), window })
  // a peer's block 10 s after genesis: its bits are the genesis rule's (the limit, BITS)
  const a = submission(GENESIS.hashHex, 1, { time: T0 + 10 })
  assert.equal(f.onPeerBlock(a.bytes).adopted, true)
  const afterA = rule([...window, { time: T0 + 10, bits: BITS }])
  assert.ok(targetFromBits(afterA) < targetFromBits(BITS), 'a fast block makes the next one harder')
  assert.equal(f.tip?.nextBits, afterA)
  assert.deepEqual(f.tip?.window, [...window, { time: T0 + 10, bits: BITS }])
  // on top of it, the old bits are wrong now; the rule's are right
  assert.deepEqual(f.onPeerBlock(submission(a.hashHex, 2, { time: T0 + 20, bits: BITS }).bytes), { adopted: false, reason: 'wrong-bits' })
  // our own block on it, with the next bits and window the miner computed (Miner.tipAfter)
  const own = submission(a.hashHex, 2, { time: T0 + 20, bits: afterA })
  const ownWindow = [...window, { time: T0 + 10, bits: BITS }, { time: T0 + 20, bits: afterA }]
  f.onOwnBlock(own.hashHex, 2, a.hashHex, { nextBits: rule(ownWindow), window: ownWindow })
  assert.equal(f.tip?.hashHex, own.hashHex)
  // a peer's block on ours must carry the bits of our block's window, not a's
  assert.deepEqual(f.onPeerBlock(submission(own.hashHex, 3, { time: T0 + 30, bits: afterA }).bytes), { adopted: false, reason: 'wrong-bits' })
  assert.equal(f.onPeerBlock(submission(own.hashHex, 3, { time: T0 + 30, bits: rule(ownWindow) }).bytes).adopted, true)
  // a sibling of `a` (the same parent) is judged by the genesis rule, not by the current tip's
  const sibling = submission(GENESIS.hashHex, 1, { time: T0 + 30, salt: 9 })
  assert.deepEqual(f.onPeerBlock(sibling.bytes), { adopted: false, reason: 'not-better' }, 'its bits pass; it is only lower')
})

test('with difficulty adjustment, a block on a parent whose window is unknown is not followed', () => {
  const f = new TipFollower(rule)
  f.onVerified({ ...GENESIS, window: [{ time: T0, bits: BITS }] })
  f.onAccepted('55'.repeat(32), 1) // known to exist, its times unknown
  assert.deepEqual(f.onPeerBlock(submission('55'.repeat(32), 2).bytes), { adopted: false, reason: 'parent-unknown' })
})

test('our own block on a parent that is no longer our tip is followed only if it wins; blocks on it are checked by its window either way', () => {
  const window = [{ time: T0, bits: BITS }]
  const peer = submission(GENESIS.hashHex, 1, { time: T0 + 10, salt: 1 })
  const ownWindow = [...window, { time: T0 + 50, bits: BITS }]
  // two of our blocks on genesis, one whose hash is below the peer's and one above (salts searched, not assumed)
  const ours = Array.from({ length: 40 }, (_, i) => submission(GENESIS.hashHex, 1, { time: T0 + 50, salt: 10 + i }))
  const lower = ours.find((o) => o.hashHex < peer.hashHex)!
  const higher = ours.find((o) => o.hashHex > peer.hashHex)!
  for (const [own, wins] of [[lower, true], [higher, false]] as const) {
    const f = new TipFollower(rule)
    f.onVerified({ ...GENESIS, nextBits: rule(window), window })
    // a peer's block on genesis arrives while our miner still mines on genesis
    assert.equal(f.onPeerBlock(peer.bytes).adopted, true)
    f.onOwnBlock(own.hashHex, 1, GENESIS.hashHex, { nextBits: rule(ownWindow), window: ownWindow })
    assert.equal(f.tip?.hashHex, wins ? own.hashHex : peer.hashHex)
    if (wins) assert.deepEqual(f.tip?.window, ownWindow)
    const onOwn = submission(own.hashHex, 2, { time: T0 + 60, bits: rule(ownWindow) })
    assert.equal(f.onPeerBlock(onOwn.bytes).adopted, true, 'a block on ours, by our window')
  }
})

test('a relay tip with the same hash but other bits corrects ours; an inconsistent relay window is dropped', () => {
  const f = new TipFollower(rule)
  const window = [{ time: T0, bits: BITS }]
  f.onVerified({ ...GENESIS, nextBits: rule(window), window })
  assert.equal(f.onVerified({ ...GENESIS, nextBits: rule(window), window }), false, 'nothing new')
  const corrected = { ...GENESIS, nextBits: BITS - 1, window: undefined }
  assert.equal(f.onVerified(corrected), true)
  assert.equal(f.tip?.nextBits, BITS - 1)
  // a window whose rule does not give the relay's next bits, or that is not whole, is not kept
  const g = new TipFollower(rule)
  g.onVerified({ ...GENESIS, nextBits: BITS - 1, window })
  assert.equal(g.tip?.window, undefined)
  g.onVerified({ ...GENESIS, hashHex: '66'.repeat(32), height: 5, nextBits: rule(window), window })
  assert.equal(g.tip?.window, undefined, 'a tip at height 5 has a window of 4')
})

test("a child of a tip with a template does not inherit it: the parent's transfers and approvals are not the child's", () => {
  const f = new TipFollower()
  const withTemplate: TipInfo = { ...GENESIS, height: 5, template: { txs: ['00'], fees: '9', approvals: ['01'], subsidy: '3000000000', history: null } }
  assert.equal(f.onVerified(withTemplate), true)
  // a template for a block that is no longer the tip is not kept; one for the tip is
  assert.equal(f.setTemplate('ff'.repeat(32), withTemplate.template!), false)
  assert.equal(f.setTemplate(withTemplate.hashHex, { ...withTemplate.template!, fees: '10' }), true)
  assert.equal(f.tip?.template?.fees, '10')
  assert.equal(f.setTemplate(withTemplate.hashHex, withTemplate.template!), true)
  // the same block again keeps the template the page fetched for it
  assert.equal(f.onVerified({ ...withTemplate, template: undefined, nextBits: BITS + 1 }), true)
  assert.deepEqual(f.tip?.template, withTemplate.template)
  const own = submission(GENESIS.hashHex, 6)
  f.onOwnBlock(own.hashHex, 6, GENESIS.hashHex, { nextBits: BITS })
  assert.deepEqual(f.tip, { hashHex: own.hashHex, height: 6, nextBits: BITS, subsidy: GENESIS.subsidy })
  const peer = submission(own.hashHex, 7)
  const r = f.onPeerBlock(peer.bytes)
  assert.equal(r.adopted, true)
  assert.deepEqual(f.tip, { hashHex: peer.hashHex, height: 7, nextBits: BITS, subsidy: GENESIS.subsidy })
})
