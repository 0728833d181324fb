import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  MAX_INPUTS, MAX_OUTPUTS, MAX_PREFERENCES, MAX_TX_BYTES, PUBKEY_OUTPUT_SIZE, TAGS, TX_INPUT_SIZE, commitPolynomial, dkgMessageToBytes, generateKeyPair,
  historyAnchorFromBytes, historyAnchorToBytes, sign, signDkgMessage, taggedHash, transferOutputFromBytes, transferOutputToBytes, txFromBytes, txHash,
  txSigHash, txSigningBytes, txSize, txToBytes, verifyReference,
  type CoinbaseTx, type DkgSuccess, type MessageHistory, type TransferOutput, type TransferTx,
} from '../src/index.js'
import { Prng, concat, decodeOrOurError, hex, patch, readVectors, throwsCode, u16be, u32be, unhex } from './helpers.js'

const seed = (first: number): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => (first + i) & 0xff)
const ALICE = generateKeyPair(seed(0x01))
const BOB = generateKeyPair(seed(0x41))
const PREV = taggedHash(TAGS.tx, new TextEncoder().encode('previous transaction'))
const TASK = taggedHash(TAGS.task, new TextEncoder().encode('task'))

function signed(tx: TransferTx, secretKey = ALICE.secretKey): TransferTx {
  const message = txSigHash(tx)
  return { ...tx, inputs: tx.inputs.map((i) => ({ ...i, signature: sign(secretKey, message) })) }
}

const OUTPUTS: TransferOutput[] = [
  { amount: 1_000n, recipient: BOB.publicKey, lock: { kind: 'pubkey' } },
  { amount: 2n ** 64n - 1n, recipient: ALICE.publicKey, lock: { kind: 'task-fee', taskHash: TASK, revokeBefore: 500 } },
  { amount: 7n, recipient: ALICE.publicKey, lock: { kind: 'stake', role: 1, preferences: [0, 1, 65535], expiry: 0xffff_ffff, vrfPublicKey: BOB.publicKey } },
]
const TRANSFER = signed({
  type: 'transfer',
  inputs: [{ prevout: { txHash: PREV, index: 0 }, signature: new Uint8Array(64) }, { prevout: { txHash: PREV, index: 0xffff_ffff }, signature: new Uint8Array(64) }],
  outputs: OUTPUTS,
})

/** transfer offsets: version 0, type 2, input count 3, inputs 5 (100 bytes each), output count 205, outputs 207 */
const OUT0 = 5 + 2 * TX_INPUT_SIZE + 2

describe('transfer encoding', () => {
  it('round-trips every lock kind', () => {
    const bytes = txToBytes(TRANSFER)
    assert.deepEqual(txFromBytes(bytes), TRANSFER)
    assert.equal(txSize(TRANSFER), bytes.length)
    for (const o of OUTPUTS) assert.deepEqual(transferOutputFromBytes(transferOutputToBytes(o)), o)
    // JOIN_TASK's output: task hash | the stake body (its VRF key included) | purchase height | proof
    const joined: TransferOutput = {
      amount: 9n, recipient: ALICE.publicKey,
      lock: { kind: 'joined', taskHash: TASK, role: 0, preferences: [3], expiry: 900, purchaseHeight: 12, vrfPublicKey: BOB.publicKey, pi: new Uint8Array(80).fill(4) },
    }
    const jb = transferOutputToBytes(joined)
    assert.deepEqual(transferOutputFromBytes(jb), joined)
    assert.equal(jb.length, 8 + 1 + 32 + 32 + (1 + 4 + 1 + 2 + 32) + 4 + 80)
    assert.throws(() => transferOutputFromBytes(jb.subarray(0, jb.length - 1)), { code: 'PROTOCOL_TRUNCATED' })
    assert.equal(transferOutputToBytes(OUTPUTS[0]!).length, PUBKEY_OUTPUT_SIZE)
  })

  it('is frozen (bytes, txHash, sighash)', () => {
    const bytes = txToBytes(TRANSFER)
    assert.equal(bytes.length, 5 + 200 + 2 + 41 + (41 + 36) + (41 + 1 + 4 + 1 + 6 + 32))
    assert.equal(hex(bytes.subarray(0, 5)), '0001010002')
    assert.equal(hex(bytes.subarray(OUT0, OUT0 + 9)), '00000000000003e800')
    assert.equal(hex(txHash(TRANSFER)), '93779bbb236a6de4142d551be454e309aa3bcf4b18cf2897de7b5caa1bf3422c')
    assert.equal(hex(txSigHash(TRANSFER)), 'f571d408cea80c5aa26b51e3952fb087da6c855c6ea852e5862cb45b0a456670')
    assert.equal(hex(txSigHash(TRANSFER)), hex(taggedHash(TAGS.txSig, txSigningBytes(TRANSFER))))
  })

  it('keeps the coinbase encoding of issue 2 (frozen tx vectors)', () => {
    const file = readVectors<{ valid: { bytes: string; hash: string }[] }>('tx')
    for (const v of file.valid) {
      const tx = txFromBytes(unhex(v.bytes))
      assert.equal(tx.type, 'coinbase')
      assert.equal(hex(txToBytes(tx)), v.bytes)
      assert.equal(hex(txHash(tx)), v.hash)
    }
  })

  it('signs everything but the signatures', () => {
    const other = { ...TRANSFER, inputs: TRANSFER.inputs.map((i) => ({ ...i, signature: new Uint8Array(64).fill(9) })) }
    assert.deepEqual(txSigHash(other), txSigHash(TRANSFER))
    assert.notDeepEqual(txHash(other), txHash(TRANSFER), 'the txHash covers the signatures')
    const more = { ...TRANSFER, outputs: [{ ...OUTPUTS[0]!, amount: 1_001n }, ...OUTPUTS.slice(1)] }
    assert.notDeepEqual(txSigHash(more), txSigHash(TRANSFER))
    const moved = { ...TRANSFER, inputs: [TRANSFER.inputs[1]!, TRANSFER.inputs[0]!] }
    assert.notDeepEqual(txSigHash(moved), txSigHash(TRANSFER), 'input order is signed')
    assert.ok(verifyReference(ALICE.publicKey, txSigHash(TRANSFER), TRANSFER.inputs[0]!.signature))
    assert.equal(txSigningBytes(TRANSFER).length, txToBytes(TRANSFER).length - 2 * 64)
    // the signing bytes of a transfer never equal a full encoding: the tag differs too
    assert.notDeepEqual(taggedHash(TAGS.tx, txSigningBytes(TRANSFER)), txSigHash(TRANSFER))
  })

  it('refuses malformed bytes with typed errors', () => {
    const v = txToBytes(TRANSFER)
    throwsCode(() => txFromBytes(patch(v, 2, [4])), 'PROTOCOL_BAD_TYPE', 'type 4')
    throwsCode(() => txFromBytes(patch(v, 2, [2])), 'PROTOCOL_TRUNCATED', 'a transfer read as a charge lacks its task hash')
    throwsCode(() => txFromBytes(patch(v, OUT0 + 8, [4])), 'PROTOCOL_BAD_TYPE', 'lock kind 4')
    throwsCode(() => txFromBytes(patch(v, OUT0 + 8, [255])), 'PROTOCOL_BAD_TYPE', 'lock kind 255')
    const stakeAt = OUT0 + 41 + 77
    throwsCode(() => txFromBytes(patch(v, stakeAt + 41, [4])), 'PROTOCOL_BAD_VALUE', 'stake role 4')
    throwsCode(() => txFromBytes(patch(v, stakeAt + 46, [MAX_PREFERENCES + 1])), 'PROTOCOL_TOO_LARGE', 'preferences over the cap')
    throwsCode(() => txFromBytes(patch(v, 3, u16be(MAX_INPUTS + 1))), 'PROTOCOL_TOO_LARGE', 'inputs over the cap')
    throwsCode(() => txFromBytes(patch(v, OUT0 - 2, u16be(MAX_OUTPUTS + 1))), 'PROTOCOL_TOO_LARGE', 'outputs over the cap')
    throwsCode(() => txFromBytes(v.subarray(0, 5 + 50)), 'PROTOCOL_TRUNCATED', 'cut in the first input')
    throwsCode(() => txFromBytes(v.subarray(0, v.length - 1)), 'PROTOCOL_TRUNCATED', 'cut in the last preference')
    throwsCode(() => txFromBytes(concat(v, [0])), 'PROTOCOL_TRAILING_BYTES', 'trailing byte')
    throwsCode(() => txFromBytes(new Uint8Array(MAX_TX_BYTES + 1)), 'PROTOCOL_TOO_LARGE', 'oversize')
    throwsCode(() => txFromBytes(patch(v, 0, u16be(2))), 'PROTOCOL_BAD_VERSION', 'version 2')
    throwsCode(() => transferOutputFromBytes(concat(transferOutputToBytes(OUTPUTS[0]!), [0])), 'PROTOCOL_TRAILING_BYTES', 'output')
  })

  it('a decoder of mutated transfers only throws our errors, and what decodes re-encodes to the same bytes', () => {
    const rng = new Prng(4)
    const v = txToBytes(TRANSFER)
    for (let n = 0; n < 3_000; n++) {
      const m = v.slice(0, rng.int(4) === 0 ? rng.int(v.length) : v.length)
      for (let k = 0; k < 1 + rng.int(3); k++) if (m.length > 0) m[rng.int(m.length)] = rng.u32() & 0xff
      const tx = decodeOrOurError(txFromBytes, m, 'mutated transfer')
      if (tx !== null) assert.equal(hex(txToBytes(tx)), hex(m), 'canonical: one encoding per transaction')
    }
  })
})

describe('coinbase extensions (type 3: COLLECT_VERIFICATIONS, a MESSAGE_HISTORY anchor)', () => {
  const block = taggedHash(TAGS.blockHeader, new TextEncoder().encode('parent'))
  const approval = { verifier: BOB.publicKey, precursor: new Uint8Array(32).fill(6), signature: new Uint8Array(64).fill(7) }
  const success = signDkgMessage<DkgSuccess>({
    kind: 'success', session: new Uint8Array(32).fill(1), member: ALICE.publicKey, groupPublicKey: commitPolynomial([5n])[0]!, qualified: [1],
  }, ALICE.secretKey)
  const record: MessageHistory = {
    type: 'history', taskId: new Uint8Array(16).fill(2), epoch: 0, slot: 3, prevSlotHash: new Uint8Array(32), messages: [new Uint8Array(32).fill(9)],
    signature: new Uint8Array(96).fill(3),
  }
  const outputs = [{ amount: 5n, recipient: ALICE.publicKey }]
  /** coinbase offsets: version 0, type 2, height 3, output count 7, one output 9, flags 49, then the extensions */
  const FLAGS = 9 + 40

  it('round-trips each extension and both, and has one encoding: type 0 without any', () => {
    const collect = { block, approvals: [approval] }
    const history = { attempt: 2, successes: [success], record }
    const both: CoinbaseTx = { type: 'coinbase', height: 4, outputs, collect, history }
    const variants: [CoinbaseTx, number][] = [[both, 3], [{ type: 'coinbase', height: 4, outputs, collect }, 1], [{ type: 'coinbase', height: 4, outputs, history }, 2]]
    for (const [cb, flags] of variants) {
      const bytes = txToBytes(cb)
      assert.deepEqual([bytes[2], bytes[FLAGS]], [3, flags])
      assert.deepEqual(txFromBytes(bytes), cb)
    }
    assert.equal(txToBytes({ type: 'coinbase', height: 4, outputs })[2], 0)
    assert.deepEqual(historyAnchorFromBytes(historyAnchorToBytes(both.history!)), both.history)
  })

  it('refuses malformed extensions with typed errors', () => {
    const collect = txToBytes({ type: 'coinbase', height: 4, outputs, collect: { block, approvals: [approval] } })
    const anchor = txToBytes({ type: 'coinbase', height: 4, outputs, history: { attempt: 0, successes: [success], record } })
    throwsCode(() => txFromBytes(patch(collect, FLAGS, [0])), 'PROTOCOL_BAD_VALUE', 'no extension flag in a type 3')
    throwsCode(() => txFromBytes(patch(collect, FLAGS, [4])), 'PROTOCOL_BAD_VALUE', 'an unknown extension flag')
    throwsCode(() => txFromBytes(concat(collect.subarray(0, FLAGS + 1 + 32), [0])), 'PROTOCOL_BAD_VALUE', 'a collect without approvals')
    throwsCode(() => txFromBytes(patch(collect, FLAGS + 1 + 32, [65])), 'PROTOCOL_TOO_LARGE', 'over 64 approvals')
    throwsCode(() => txFromBytes(collect.subarray(0, collect.length - 1)), 'PROTOCOL_TRUNCATED', 'a short approval')
    throwsCode(() => txFromBytes(concat(anchor.subarray(0, FLAGS + 1 + 4), [0])), 'PROTOCOL_BAD_VALUE', 'an anchor without DKG successes')
    throwsCode(() => txFromBytes(concat(collect, [0])), 'PROTOCOL_TRAILING_BYTES', 'bytes after the extensions')
    const notSuccess = dkgMessageToBytes(signDkgMessage({ kind: 'complaint', session: success.session, complainer: ALICE.publicKey, accused: BOB.publicKey, reason: 'missing' }, ALICE.secretKey))
    const withComplaint = concat(anchor.subarray(0, FLAGS + 1 + 4 + 1), u32be(notSuccess.length), notSuccess, anchor.subarray(FLAGS + 1 + 4 + 1 + 4 + dkgMessageToBytes(success).length))
    throwsCode(() => txFromBytes(withComplaint), 'PROTOCOL_BAD_TYPE', 'a DKG message other than a success')
  })
})
