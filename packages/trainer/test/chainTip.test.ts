import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  TAGS, generateKeyPair, revealToBytes, signVerifierApproval, taggedHash, toHex, type VerifierApproval,
} from '@pouw/protocol'
import { chainTipFromInfo, type TipInfo } from '../src/index.js'

const TIP = taggedHash(TAGS.blockHeader, new TextEncoder().encode('tip'))
const OTHER = taggedHash(TAGS.blockHeader, new TextEncoder().encode('another block'))
const WHOLE = '5000000000'
const info = (height: number, template?: TipInfo['template']): TipInfo => ({ hashHex: toHex(TIP), height, nextBits: 0x207fffff, subsidy: WHOLE, template })
const approval = (block: Uint8Array, n: number): VerifierApproval =>
  signVerifierApproval(block, new Uint8Array(32).fill(5), generateKeyPair(new Uint8Array(32).fill(n)))
const reveal = (block: Uint8Array, n: number): string => toHex(revealToBytes({ blockHash: block, approval: approval(block, n) }))

test('without a template: the whole subsidy on genesis, nothing on any other block (its approvals are not collected yet)', () => {
  assert.equal(chainTipFromInfo(info(0)).subsidy, BigInt(WHOLE))
  assert.equal(chainTipFromInfo(info(7)).subsidy, 0n)
  assert.equal(chainTipFromInfo(info(7)).collect, undefined)
})

test("with a template: its subsidy and its collect, but none of either when an approval names another block", () => {
  const tpl = { txs: [], fees: '12', approvals: [reveal(TIP, 1), reveal(TIP, 2)], subsidy: '3000000000', history: null }
  const t = chainTipFromInfo(info(7, tpl))
  assert.equal(t.subsidy, 3_000_000_000n)
  assert.equal(t.fees, 12n)
  assert.deepEqual(t.collect, { block: TIP, approvals: [approval(TIP, 1), approval(TIP, 2)] })
  const stale = chainTipFromInfo(info(7, { ...tpl, approvals: [reveal(TIP, 1), reveal(OTHER, 2)] }))
  assert.deepEqual([stale.subsidy, stale.collect, stale.fees], [0n, undefined, 12n])
  // a template without approvals: what the relay says it proves (nothing), and no collect
  assert.deepEqual([chainTipFromInfo(info(7, { ...tpl, approvals: [], subsidy: '0' })).collect], [undefined])
})
