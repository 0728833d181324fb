/**
 * Regenerates test/vectors/*.json from fixed keys and values (never random):
 *
 *   node --import tsx packages/protocol/test/makeVectors.ts
 *
 * The vectors are frozen: a change in any of them is a change of the wire
 * format or of a consensus rule, and needs a version bump, not a rerun of
 * this script. vectors.test.ts checks that this script still reproduces the
 * files byte for byte.
 */
import { writeFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { ed25519 } from '@noble/curves/ed25519.js'
import { sha512 } from '@noble/hashes/sha2.js'
import {
  BLOCK_VERSION, HEADER_SIZE, MAX_BLOCK_BYTES, MAX_ITRES_BYTES, MAX_PARAMS, MAX_TX_BYTES, TAGS, ZERO_HASH,
  Writer, applyMessageMap, bitsFromTarget, computeMerkleRoot, evidenceToBytes, float32Bytes, generateKeyPair,
  headerHash, headerToBytes, mlpNet, itResHash, itResToBytes, itResSigningHash, merkleRoot, messageMapToBytes,
  signItRes, signVerdict, taggedHash, verdictSeal, targetFromBits, taskToBytes as taskToBytesFor, toHex, txToBytes, workFromBits,
  type Block, type BlockHeader, type Evidence, type ItRes, type LayerSpec, type TaskSpec, type Tag, type Tx, type UnsignedItRes,
  type Verdict,
} from '../src/index.js'
import { concat, f32be, patch, u16be, u32be, utf8 } from './helpers.js'
import { KINDS, mapFromJson, type EncodingVectors, type KindName } from './vectorJson.js'

// ---- fixed keys and values ----

const seedBytes = (first: number): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => (first + i) & 0xff)
export const MINER_SEED = seedBytes(0x01)
export const PEER_SEED = seedBytes(0x41)
export const VERIFIER_SEED = seedBytes(0x81)
const MINER = generateKeyPair(MINER_SEED).publicKey
const PEER = generateKeyPair(PEER_SEED).publicKey
const VERIFIER = generateKeyPair(VERIFIER_SEED).publicKey
const TASK_ID = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i)
const h = (tag: Tag, label: string): Uint8Array => taggedHash(tag, utf8(label))
const FF32 = new Uint8Array(32).fill(0xff)

// ---- objects ----

function itRes(name: string): { m: ItRes; seed: Uint8Array } {
  const base: UnsignedItRes = {
    taskId: TASK_ID, backend: 'webgl', miner: MINER, iteration: 7, epoch: 0, batchIndex: 41,
    map: mapFromJson(['+3', '-17', '+100', '-101', '+109385']),
    metrics: [Math.fround(2.302585), Math.fround(0.125)], tStart: 1_700_000_000, tFinish: 1_700_000_002,
    batchHash: h(TAGS.batch, 'batch 7'), peerUpdatesHash: h(TAGS.peerUpdates, 'peer updates 7'),
    modelHash: h(TAGS.model, 'model 7'), residualHash: h(TAGS.residual, 'residual 7'),
    znbHash: h(TAGS.blockHeader, 'zero-nonce block 9'), nextPeerMessagesHash: h(TAGS.peerUpdates, 'next peer messages 7'),
  }
  switch (name) {
    case 'typical':
      return { m: signItRes(base, MINER_SEED), seed: MINER_SEED }
    case 'minimal':
      return {
        m: signItRes({
          ...base, backend: 'cpu', iteration: 0, map: new Uint32Array(0), metrics: [], tStart: 0, tFinish: 0,
          batchHash: ZERO_HASH, peerUpdatesHash: ZERO_HASH, modelHash: ZERO_HASH, residualHash: ZERO_HASH,
          znbHash: ZERO_HASH, nextPeerMessagesHash: ZERO_HASH,
        }, MINER_SEED),
        seed: MINER_SEED,
      }
    case 'extremes':
      return {
        m: signItRes({
          ...base, backend: 'webgpu', iteration: 0xffff_ffff, epoch: 0xffff, batchIndex: 0xffff_ffff, map: mapFromJson(['-0', '+1', '+2147483647']),
          metrics: [0, 1, -1, 3.4028234663852886e38, -3.4028234663852886e38, 1.401298464324817e-45, 1.1754943508222875e-38,
            Math.fround(Math.PI), Math.fround(-Math.E), 0.5, 0.25, 0.125, 1024, -65536, Math.fround(1e-7), Math.fround(123456.789)],
          tStart: 0xffff_ffff, tFinish: 0xffff_ffff, znbHash: FF32,
        }, MINER_SEED),
        seed: MINER_SEED,
      }
    case 'peer':
      return {
        m: signItRes({ ...base, backend: 'wasm', miner: PEER, iteration: 6, map: mapFromJson(['-5', '+6']), metrics: [Math.fround(2.25), 0.0625] }, PEER_SEED),
        seed: PEER_SEED,
      }
  }
  throw new Error(name)
}

const IT_TYPICAL = itRes('typical').m
const IT_MINIMAL = itRes('minimal').m
const IT_PEER = itRes('peer').m

const COINBASE_1: Tx = { type: 'coinbase', height: 1, outputs: [{ amount: 50_000n, recipient: MINER }] }
const COINBASE_EMPTY: Tx = { type: 'coinbase', height: 0, outputs: [] }
const COINBASE_EXTREMES: Tx = {
  type: 'coinbase', height: 0xffff_ffff,
  outputs: [{ amount: 2n ** 64n - 1n, recipient: MINER }, { amount: 0n, recipient: PEER }],
}

const HEADER_1: BlockHeader = {
  version: BLOCK_VERSION, prevHash: ZERO_HASH, merkleRoot: computeMerkleRoot([COINBASE_1]), time: 1_700_000_010,
  bits: 0x207f_ffff, nonce: h(TAGS.nonce, 'nonce'), hashMsg: itResHash(itResToBytes(IT_TYPICAL)),
  hashMsgHist: merkleRoot([itResHash(itResToBytes(IT_MINIMAL)), itResHash(itResToBytes(IT_TYPICAL))]),
}
const HEADER_2: BlockHeader = {
  version: BLOCK_VERSION, prevHash: headerHash(HEADER_1), merkleRoot: computeMerkleRoot([]), time: 0xffff_ffff,
  bits: 0x1d00_ffff, nonce: FF32, hashMsg: ZERO_HASH, hashMsgHist: ZERO_HASH,
}
const THREE_TXS = [COINBASE_1, COINBASE_EMPTY, COINBASE_EXTREMES]
const HEADER_3: BlockHeader = { ...HEADER_1, prevHash: headerHash(HEADER_2), merkleRoot: computeMerkleRoot(THREE_TXS), bits: 0x1b04_04cb }

const BLOCK_1: Block = { header: HEADER_1, txs: [COINBASE_1] }
const BLOCK_EMPTY: Block = { header: HEADER_2, txs: [] }
const BLOCK_3: Block = { header: HEADER_3, txs: THREE_TXS }

const TASK_MNIST: TaskSpec = {
  taskId: TASK_ID, net: mlpNet([784, 128, 64, 10]), optimizer: { kind: 'sgd' }, initSeed: 42, tau: Math.fround(1e-3),
  learningRate: Math.fround(0.01), batchSize: 32, commitLead: 2, noncesBatchDiv: 1_000, noncesModelDiv: 100,
  recordCount: 70_000, fragmentHashes: Array.from({ length: 14 }, (_, i) => h(TAGS.dataset, `mnist fragment ${i}`)),
  trainPermille: 857, valPermille: 50, assignment: 'interleaved', kappa: 10, loadFactorPermille: 1250, epochs: 2,
  patience: 0, bandPpm: 1_000, maxBandDisagreements: 64, expectedSeconds: 0, hardware: 'any', metric: 'accuracy',
}
const TASK_TINY: TaskSpec = {
  taskId: new Uint8Array(16), net: mlpNet([1, 1]), optimizer: { kind: 'sgd' }, initSeed: 0xffff_ffff, tau: 1.401298464324817e-45,
  learningRate: 3.4028234663852886e38, batchSize: 1, commitLead: 1, noncesBatchDiv: 1, noncesModelDiv: 0xffff_ffff,
  recordCount: 10, fragmentHashes: Array.from({ length: 10 }, () => ZERO_HASH), trainPermille: 1, valPermille: 0,
  assignment: 'consistent-hashing', kappa: 1, loadFactorPermille: 1000, epochs: 1, patience: 0, bandPpm: 0, maxBandDisagreements: 0,
  expectedSeconds: 0, hardware: 'any', metric: 'accuracy',
}
/** version 3: a small convolutional network for 28×28 images, Adam, early stopping, a time estimate and a GPU */
const TASK_CONV: TaskSpec = {
  ...TASK_MNIST,
  net: {
    input: [28, 28, 1],
    layers: [
      { kind: 'conv2d', filters: 8, kernel: 3, stride: 1, padding: 'same', activation: 'relu' },
      { kind: 'batchNorm' },
      { kind: 'maxPool', size: 2, stride: 2 },
      { kind: 'conv2d', filters: 16, kernel: 3, stride: 2, padding: 'valid', activation: 'elu' },
      { kind: 'avgPool', size: 2, stride: 1 },
      { kind: 'flatten' },
      { kind: 'dense', units: 32, activation: 'tanh' },
      { kind: 'dropout', ratePermille: 250 },
      { kind: 'dense', units: 10, activation: 'linear' },
    ],
    loss: 'cross-entropy',
  },
  optimizer: { kind: 'adam', beta1: Math.fround(0.9), beta2: Math.fround(0.999), epsilon: Math.fround(1e-7) },
  patience: 3, expectedSeconds: 600, hardware: 'gpu', metric: 'macro-f1',
}
/** version 3 only by its loss and optimiser */
const TASK_MSE: TaskSpec = { ...TASK_TINY, net: { ...mlpNet([4, 3]), loss: 'mse' }, optimizer: { kind: 'momentum', momentum: Math.fround(0.9) } }

const f32 = (xs: number[]): Float32Array => Float32Array.from(xs)
const EVIDENCE_1: Evidence = {
  slot: [itResToBytes(IT_MINIMAL), itResToBytes(IT_TYPICAL)],
  model: f32([0.5, -0.25, 1e-3, 3.4028234663852886e38, -0, 1.401298464324817e-45, 7, -7]),
  residual: f32([0, 1e-4, -1e-4, 0.0009, -0.0011, 0, 0, 1]),
  peerUpdates: [itResToBytes(IT_PEER)],
}
const EVIDENCE_MIN: Evidence = { slot: [new Uint8Array(0)], model: f32([]), residual: f32([]), peerUpdates: [] }

function verdict(name: string): Verdict {
  const base: Omit<Verdict, 'signature'> = {
    blockHash: headerHash(HEADER_1), accepted: true, code: '', detail: '', height: 1, tipHash: headerHash(HEADER_1),
    tipHeight: 1, tipWindow: [{ time: HEADER_1.time - 60, bits: 0x207f_ffff }, { time: HEADER_1.time, bits: 0x207f_ffff }], nextBits: 0x207f_ffff,
    seal: verdictSeal(headerHash(HEADER_1), VERIFIER, h(TAGS.noncePrecursor, 'precursor')), verifier: VERIFIER,
  }
  switch (name) {
    case 'accepted': return signVerdict(base, VERIFIER_SEED)
    case 'rejected': return signVerdict({ ...base, accepted: false, code: 'POUW_MAP_MISMATCH', detail: 'entry 3: τ band 2 > 1 allowed', height: 0, seal: ZERO_HASH }, VERIFIER_SEED)
    case 'leading BOM kept': return signVerdict({ ...base, accepted: false, code: 'X', detail: '\ufeffdetail after a byte order mark' }, VERIFIER_SEED)
    case 'longest texts': return signVerdict({ ...base, accepted: false, code: 'C'.repeat(1024), detail: 'é'.repeat(512) }, VERIFIER_SEED)
  }
  throw new Error(name)
}

// ---- invalid encodings ----

type Invalid = EncodingVectors['invalid'][number]
const bad = (name: string, bytes: Uint8Array, error: string): Invalid => ({ name, bytes: toHex(bytes), error })
const T = 'PROTOCOL_TRUNCATED', TRAIL = 'PROTOCOL_TRAILING_BYTES', LARGE = 'PROTOCOL_TOO_LARGE', VER = 'PROTOCOL_BAD_VERSION'
const TYPE = 'PROTOCOL_BAD_TYPE', VALUE = 'PROTOCOL_BAD_VALUE', CANON = 'PROTOCOL_NOT_CANONICAL'

/** the generic three: one byte short, one byte more, nothing */
function framing(valid: Uint8Array, truncated = T, trailing = TRAIL): Invalid[] {
  return [
    bad('truncated by one byte', valid.subarray(0, valid.length - 1), truncated),
    bad('trailing byte', concat(valid, [0]), trailing),
    bad('empty', new Uint8Array(0), truncated),
  ]
}

/** IT_RES offsets: version 0, task id 2, type 18, backend 19, miner 20, iteration 52, epoch 56, map count 58, entries 62 */
function itResInvalid(): Invalid[] {
  const v = itResToBytes(IT_TYPICAL)
  const head = v.subarray(0, 62)
  const withMap = (entries: string[]): Uint8Array => itResToBytes({ ...IT_TYPICAL, map: mapFromJson(entries) })
  const withMetrics = (metrics: number[]): Uint8Array => itResToBytes({ ...IT_TYPICAL, metrics })
  const metricsAt = 66 + 4 * IT_TYPICAL.map.length
  return [
    ...framing(v),
    bad('truncated inside the header', v.subarray(0, 10), T),
    bad('truncated signature', v.subarray(0, v.length - 32), T),
    bad('version 1', patch(v, 0, u16be(1)), VER),
    bad('version 3', patch(v, 0, u16be(3)), VER),
    bad('message type 2', patch(v, 18, [2]), TYPE),
    bad('message type 0', patch(v, 18, [0]), TYPE),
    bad('backend code 4', patch(v, 19, [4]), VALUE),
    bad('backend code 255', patch(v, 19, [255]), VALUE),
    bad('map count 2^30 with 8 bytes after it', concat(head, u32be(2 ** 30), new Uint8Array(8)), LARGE),
    bad('map count 2^32-1', concat(head, u32be(0xffff_ffff)), LARGE),
    bad('map count 2^21+1, one over the cap', concat(head, u32be(2 ** 21 + 1), new Uint8Array(4)), LARGE),
    bad('map count 2^21 (allowed) with 8 bytes after it', concat(head, u32be(2 ** 21), new Uint8Array(8)), T),
    bad('map index repeated', withMap(['+3', '+3']), CANON),
    bad('map index repeated with the other sign', withMap(['+3', '-3']), CANON),
    bad('map indices decreasing', withMap(['+17', '-3']), CANON),
    bad('map index 0 twice', withMap(['-0', '-0']), CANON),
    bad('metric NaN', withMetrics([NaN]), VALUE),
    bad('metric +Infinity', withMetrics([1, Infinity]), VALUE),
    bad('metric -Infinity', withMetrics([-Infinity]), VALUE),
    bad('17 metrics', patch(withMetrics(new Array(16).fill(0)), metricsAt, u16be(17)), LARGE),
    bad('metrics count 65535', patch(v, metricsAt, u16be(0xffff)), LARGE),
  ]
}

/** header offsets: version 0, prevHash 4, merkleRoot 36, time 68, bits 72, nonce 76, hashMsg 108, hashMsgHist 140 */
function headerInvalid(): Invalid[] {
  const v = headerToBytes(HEADER_1)
  return [
    // a header has one size: a wrong size is a bad value, whichever way it is wrong
    ...framing(v, VALUE, VALUE),
    bad('version 0', patch(v, 0, u32be(0)), VER),
    bad('version 2', patch(v, 0, u32be(2)), VER),
    bad('version 0x80000001', patch(v, 0, u32be(0x8000_0001)), VER),
  ]
}

/** tx offsets: version 0, type 2, height 3, outputs count 7, outputs 9 (40 bytes each) */
function txInvalid(): Invalid[] {
  const v = txToBytes(COINBASE_1)
  return [
    ...framing(v),
    bad('version 0', patch(v, 0, u16be(0)), VER),
    bad('version 2', patch(v, 0, u16be(2)), VER),
    bad('type 1 (unknown)', patch(v, 2, [1]), TYPE),
    bad('type 255', patch(v, 2, [255]), TYPE),
    bad('outputs count 257, one over the cap', patch(v, 7, u16be(257)), LARGE),
    bad('outputs count 65535', patch(v, 7, u16be(0xffff)), LARGE),
    bad('outputs count 3, one output present', patch(v, 7, u16be(3)), T),
    bad('output cut in its recipient', v.subarray(0, 9 + 8 + 16), T),
  ]
}

function blockInvalid(): Invalid[] {
  const v = concat(headerToBytes(HEADER_1), u32be(1), u32be(txToBytes(COINBASE_1).length), txToBytes(COINBASE_1))
  const hdr = headerToBytes(HEADER_1)
  const txWithTrailing = concat(txToBytes(COINBASE_1), [0])
  return [
    ...framing(v),
    bad('header cut short', hdr.subarray(0, 100), T),
    bad('no transaction count', hdr, T),
    bad('header version 2', patch(v, 0, u32be(2)), VER),
    bad('transaction count 2^30 with 4 bytes after it', concat(hdr, u32be(2 ** 30), new Uint8Array(4)), LARGE),
    bad('transaction count 10001, one over the cap', concat(hdr, u32be(10_001)), LARGE),
    bad('transaction count 10000 (allowed) with no transactions', concat(hdr, u32be(10_000)), T),
    bad('transaction length 2^32-1', concat(hdr, u32be(1), u32be(0xffff_ffff)), LARGE),
    bad(`transaction length ${MAX_TX_BYTES + 1}, one over the cap`, concat(hdr, u32be(1), u32be(MAX_TX_BYTES + 1)), LARGE),
    bad(`transaction length ${MAX_TX_BYTES} (allowed) with 4 bytes`, concat(hdr, u32be(1), u32be(MAX_TX_BYTES), new Uint8Array(4)), T),
    bad('transaction with a trailing byte inside its length', concat(hdr, u32be(1), u32be(txWithTrailing.length), txWithTrailing), TRAIL),
    bad('transaction of unknown type', patch(v, HEADER_SIZE + 8 + 2, [1]), TYPE),
    bad('transaction version 2', patch(v, HEADER_SIZE + 8, u16be(2)), VER),
  ]
}

/** task offsets: version 0, task id 2, kind 18, layers count 19, layers 20 (4 each), then initSeed, tau, lr, ... */
function taskInvalid(): Invalid[] {
  const v = taskToBytesFor(TASK_MNIST)
  const after = 20 + 4 * 4 // initSeed, after MNIST's four layer sizes
  const tauAt = after + 4, lrAt = after + 8, batchAt = after + 12, leadAt = after + 14
  return [
    ...framing(v),
    bad('version 1', patch(v, 0, u16be(1)), VER),
    bad('version 4', patch(v, 0, u16be(4)), VER),
    bad('model kind 0', patch(v, 18, [0]), TYPE),
    bad('model kind 2', patch(v, 18, [2]), TYPE),
    bad('17 layers, one over the cap', concat(v.subarray(0, 19), [17], new Uint8Array(17 * 4)), LARGE),
    bad('255 layers', concat(v.subarray(0, 19), [255]), LARGE),
    bad('1 layer', taskToBytesFor({ ...TASK_MNIST, net: mlpNet([784]) }), VALUE),
    bad('0 layers', concat(v.subarray(0, 19), [0], v.subarray(after)), VALUE),
    bad('layer size 0', taskToBytesFor({ ...TASK_MNIST, net: mlpNet([784, 0, 10]) }), VALUE),
    bad('layer size 65537', taskToBytesFor({ ...TASK_MNIST, net: mlpNet([784, 65_537, 10]) }), VALUE),
    bad('tau NaN', patch(v, tauAt, f32be(NaN)), VALUE),
    bad('tau 0', patch(v, tauAt, f32be(0)), VALUE),
    bad('tau -0.001', patch(v, tauAt, f32be(-0.001)), VALUE),
    bad('tau +Infinity', patch(v, tauAt, f32be(Infinity)), VALUE),
    bad('learning rate NaN', patch(v, lrAt, f32be(NaN)), VALUE),
    bad('learning rate +Infinity', patch(v, lrAt, f32be(Infinity)), VALUE),
    bad('batch size 0', patch(v, batchAt, u16be(0)), VALUE),
    bad('commit lead 0', patch(v, leadAt, [0]), VALUE),
    bad('9 fragments', taskToBytesFor({ ...TASK_MNIST, fragmentHashes: TASK_MNIST.fragmentHashes.slice(0, 9) }), VALUE),
    bad('fewer records than fragments', taskToBytesFor({ ...TASK_MNIST, recordCount: 13 }), VALUE),
    bad('train share 0', taskToBytesFor({ ...TASK_MNIST, trainPermille: 0 }), VALUE),
    bad('train share 1000', taskToBytesFor({ ...TASK_MNIST, trainPermille: 1000 }), VALUE),
    bad('kappa 0', taskToBytesFor({ ...TASK_MNIST, kappa: 0 }), VALUE),
    bad('load factor 999', taskToBytesFor({ ...TASK_MNIST, loadFactorPermille: 999 }), VALUE),
    bad('load factor 2001', taskToBytesFor({ ...TASK_MNIST, loadFactorPermille: 2001 }), VALUE),
    bad('0 epochs', taskToBytesFor({ ...TASK_MNIST, epochs: 0 }), VALUE),
    bad('nonce model divisor 0', taskToBytesFor({ ...TASK_MNIST, noncesModelDiv: 0 }), VALUE),
    ...taskV3Invalid(),
  ]
}

/** version 3: the network (protocol model.ts), the optimiser and the fields after epochs */
function taskV3Invalid(): Invalid[] {
  const conv = (layers: LayerSpec[], more: Partial<TaskSpec> = {}): Uint8Array => taskToBytesFor({ ...TASK_CONV, net: { ...TASK_CONV.net, layers }, ...more })
  const out = TASK_CONV.net.layers.slice(-1)
  const v = taskToBytesFor(TASK_CONV)
  const gpuMlp = taskToBytesFor({ ...TASK_MNIST, hardware: 'gpu' })
  // layer kinds are bytes 2 + 16 + 1 + 3 x 4 + 1 + 1 = 33 on (rank, three dimensions, loss, count)
  return [
    bad('a plain MLP written in version 3', patch(gpuMlp, gpuMlp.length - 2, [0]), CANON),
    bad('flatten on a flat input', taskToBytesFor({ ...TASK_MSE, net: { ...TASK_MSE.net, layers: [{ kind: 'flatten' }, ...TASK_MSE.net.layers] } }), VALUE),
    bad('momentum 0 (plain SGD)', taskToBytesFor({ ...TASK_MSE, optimizer: { kind: 'momentum', momentum: 0 } }), VALUE),
    bad('momentum -0', taskToBytesFor({ ...TASK_MSE, optimizer: { kind: 'momentum', momentum: -0 } }), VALUE),
    bad('a layer output over the activation cap', conv([{ kind: 'conv2d', filters: 1024, kernel: 1, stride: 1, padding: 'same', activation: 'relu' }, { kind: 'batchNorm' }, { kind: 'batchNorm' }, { kind: 'batchNorm' }, { kind: 'batchNorm' }, { kind: 'batchNorm' }, { kind: 'flatten' }, ...out]), VALUE),
    bad('multiply-adds over the cap', conv([{ kind: 'conv2d', filters: 1024, kernel: 25, stride: 1, padding: 'same', activation: 'relu' }, { kind: 'flatten' }, ...out]), VALUE),
    bad('parameters over the cap', taskToBytesFor({ ...TASK_MSE, net: mlpNet([65_536, 257, 3]) }), VALUE),
    bad('input rank 2', patch(v, 18, [2]), VALUE),
    bad('loss 2', patch(v, 18 + 1 + 12, [2]), VALUE),
    bad('layer kind 7', patch(v, 33, [7]), VALUE),
    bad('33 layers, one over the cap', concat(v.subarray(0, 32), [33]), LARGE),
    bad('hardware 2', patch(v, v.length - 2, [2]), VALUE),
    bad('metric 2', patch(v, v.length - 1, [2]), VALUE),
    bad('dense on an image (no flatten)', conv([{ kind: 'dense', units: 8, activation: 'relu' }, ...out]), VALUE),
    bad('convolution on features', taskToBytesFor({ ...TASK_MSE, net: { input: [4], layers: [{ kind: 'conv2d', filters: 2, kernel: 1, stride: 1, padding: 'valid', activation: 'relu' }, ...mlpNet([4, 3]).layers], loss: 'mse' } }), VALUE),
    bad('a 29×29 kernel on a 28×28 image', conv([{ kind: 'conv2d', filters: 2, kernel: 29, stride: 1, padding: 'valid', activation: 'relu' }, { kind: 'flatten' }, ...out]), VALUE),
    bad('dropout rate 0', conv([{ kind: 'flatten' }, { kind: 'dropout', ratePermille: 0 }, ...out]), VALUE),
    bad('dropout rate 901‰', conv([{ kind: 'flatten' }, { kind: 'dropout', ratePermille: 901 }, ...out]), VALUE),
    bad('last layer not linear', conv([{ kind: 'flatten' }, { kind: 'dense', units: 10, activation: 'relu' }]), VALUE),
    bad('last layer not dense', conv([{ kind: 'flatten' }, ...out, { kind: 'dropout', ratePermille: 100 }]), VALUE),
    bad('adam epsilon 0', taskToBytesFor({ ...TASK_CONV, optimizer: { kind: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 0 } }), VALUE),
    bad('momentum 1', taskToBytesFor({ ...TASK_MSE, optimizer: { kind: 'momentum', momentum: 1 } }), VALUE),
    bad('early stopping without a validation share', taskToBytesFor({ ...TASK_CONV, valPermille: 0 }), VALUE),
  ]
}

function evidenceInvalid(): Invalid[] {
  const v = evidenceToBytes(EVIDENCE_MIN) // 0002 0001 00000000 00000000 00000000 0000
  const w = (): Writer => new Writer().u16(2)
  return [
    ...framing(v),
    bad('version 1', patch(v, 0, u16be(1)), VER),
    bad('version 3', patch(v, 0, u16be(3)), VER),
    bad('empty slot', w().u16(0).u32(0).u32(0).u16(0).finish(), VALUE),
    bad('slot count 65, one over the cap', w().u16(65).finish(), LARGE),
    bad('slot message longer than an IT_RES may be', w().u16(1).u32(MAX_ITRES_BYTES + 1).finish(), LARGE),
    bad('slot message length 2^32-1', w().u16(1).u32(0xffff_ffff).finish(), LARGE),
    bad('slot count 64 (allowed) with one message', w().u16(64).u32(0).finish(), T),
    bad('model of 6 bytes (not whole float32)', w().u16(1).u32(0).u32(6).bytes(new Uint8Array(6)).u32(0).u16(0).finish(), VALUE),
    bad('model length over 4 * MAX_PARAMS', w().u16(1).u32(0).u32(4 * MAX_PARAMS + 4).finish(), LARGE),
    bad('model length 4 * MAX_PARAMS (allowed) with 8 bytes', w().u16(1).u32(0).u32(4 * MAX_PARAMS).bytes(new Uint8Array(8)).finish(), T),
    bad('residual of 3 bytes', w().u16(1).u32(0).u32(0).u32(3).bytes(new Uint8Array(3)).u16(0).finish(), VALUE),
    bad('peer update count 1025, one over the cap', w().u16(1).u32(0).u32(0).u32(0).u16(1025).finish(), LARGE),
    bad('peer update length 2^31', w().u16(1).u32(0).u32(0).u32(0).u16(1).u32(2 ** 31).finish(), LARGE),
  ]
}

function submissionInvalid(): Invalid[] {
  const v = new Writer().u16(1).varBytes(utf8('block')).varBytes(utf8('evidence')).finish()
  return [
    ...framing(v),
    bad('version 0', patch(v, 0, u16be(0)), VER),
    bad('version 2', patch(v, 0, u16be(2)), VER),
    bad('block length over MAX_BLOCK_BYTES', new Writer().u16(1).u32(MAX_BLOCK_BYTES + 1).finish(), LARGE),
    bad('block length MAX_BLOCK_BYTES (allowed) with 2 bytes', new Writer().u16(1).u32(MAX_BLOCK_BYTES).u16(0).finish(), T),
    bad('evidence length 2^32-1', new Writer().u16(1).u32(0).u32(0xffff_ffff).finish(), LARGE),
    bad('evidence length longer than what follows', new Writer().u16(1).u32(0).u32(100).bytes(new Uint8Array(10)).finish(), T),
  ]
}

/** verdict offsets: version 0, block hash 2, accepted 34, code length 35, code 37 */
function verdictInvalid(): Invalid[] {
  const v = verdictBytes('rejected')
  const codeLen = 'POUW_MAP_MISMATCH'.length
  const detailAt = 37 + codeLen
  const detailLen = new TextEncoder().encode('entry 3: τ band 2 > 1 allowed').length
  const windowAt = detailAt + 2 + detailLen + 4 + 32 + 4 // after height, tip hash, tip height
  return [
    ...framing(v),
    bad('version 1 (before the tip window)', patch(v, 0, u16be(1)), VER),
    bad('version 2 (before the seal)', patch(v, 0, u16be(2)), VER),
    bad('version 4', patch(v, 0, u16be(4)), VER),
    bad('tip window of 0 blocks', patch(v, windowAt, [0]), VALUE),
    bad('tip window of 5 blocks', patch(v, windowAt, [5]), VALUE),
    bad('accepted flag 2', patch(v, 34, [2]), VALUE),
    bad('accepted flag 255', patch(v, 34, [255]), VALUE),
    bad('code length 1025, one over the cap', patch(v, 35, u16be(1025)), LARGE),
    bad('code length 65535', patch(v, 35, u16be(0xffff)), LARGE),
    bad('truncated inside the code text', v.subarray(0, 37 + 5), T),
    bad('code length beyond the end (1024, allowed)', concat(v.subarray(0, 35), u16be(1024), utf8('POUW')), T),
    bad('code not UTF-8 (lone continuation byte)', patch(v, 37, [0x80]), VALUE),
    bad('code not UTF-8 (overlong encoding of "/")', patch(v, 37, [0xc0, 0xaf]), VALUE),
    bad('detail not UTF-8 (UTF-16 surrogate encoded)', patch(v, detailAt + 2, [0xed, 0xa0, 0x80]), VALUE),
    bad('detail length ending inside "τ"', patch(v, detailAt, u16be('entry 3: '.length + 1)), VALUE),
  ]
}

const verdictBytes = (name: string): Uint8Array => KINDS.verdict.encode(verdict(name))

// ---- assembling the files ----

function encodingFile(kind: KindName, description: string, valid: [string, unknown, Record<string, string>?][], invalid: Invalid[]): EncodingVectors {
  const k = KINDS[kind] as unknown as {
    to(x: unknown): unknown; encode(x: unknown): Uint8Array; hash?(x: unknown, b: Uint8Array): Uint8Array
  }
  return {
    description,
    valid: valid.map(([name, x, extra]) => {
      const bytes = k.encode(x)
      return { name, object: k.to(x), bytes: toHex(bytes), ...(k.hash ? { hash: toHex(k.hash(x, bytes)) } : {}), ...extra }
    }),
    invalid,
  }
}

function ed25519File(): unknown {
  const P = ed25519.Point
  const L = P.Fn.ORDER
  const le = (n: bigint): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn))
  const fromLe = (b: Uint8Array): bigint => b.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n)
  const challenge = (R: Uint8Array, A: Uint8Array, m: Uint8Array): bigint => fromLe(sha512(concat(R, A, m))) % L
  const msg = utf8('pouw ed25519 edge case')
  const order8 = P.fromBytes(Uint8Array.from(Buffer.from('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', 'hex')))
  const { scalar: a } = ed25519.utils.getExtendedPublicKey(MINER_SEED)
  const good = ed25519.sign(msg, MINER_SEED)
  const goodS = fromLe(good.subarray(32))
  const p = 2n ** 255n - 19n
  // (R, S) = ([S]B, S) satisfies the cofactorless equation for any message under the identity key
  const trivial = concat(P.BASE.multiply(777n).toBytes(), le(777n))
  const cases: { name: string; publicKey: Uint8Array; message: Uint8Array; signature: Uint8Array; valid: boolean }[] = [
    { name: 'valid', publicKey: MINER, message: msg, signature: good, valid: true },
    { name: 'S + L (non-canonical S)', publicKey: MINER, message: msg, signature: concat(good.subarray(0, 32), le(goodS + L)), valid: false },
    { name: 'S = L', publicKey: MINER, message: msg, signature: concat(good.subarray(0, 32), le(L)), valid: false },
    { name: 'S with the top bit set', publicKey: MINER, message: msg, signature: patch(good, 63, [good[63]! | 0x80]), valid: false },
    { name: 'identity key 0100..00, R = [S]B', publicKey: P.ZERO.toBytes(), message: msg, signature: trivial, valid: false },
    { name: 'identity key as y = p + 1 (non-canonical)', publicKey: le(p + 1n), message: msg, signature: trivial, valid: false },
    { name: 'identity key with the x sign bit (non-canonical)', publicKey: le(1n | (1n << 255n)), message: msg, signature: trivial, valid: false },
    { name: 'order-2 key (y = -1)', publicKey: le(p - 1n), message: msg, signature: trivial, valid: false },
    { name: 'order-4 key (y = 0)', publicKey: le(0n), message: msg, signature: trivial, valid: false },
    { name: 'order-8 key', publicKey: order8.toBytes(), message: msg, signature: trivial, valid: false },
    { name: 'key y = p (non-canonical 0)', publicKey: le(p), message: msg, signature: trivial, valid: false },
    { name: 'key y = 2^255 - 1', publicKey: le(2n ** 255n - 1n), message: msg, signature: trivial, valid: false },
    { name: 'key all 0xff', publicKey: FF32, message: msg, signature: good, valid: false },
    { name: 'key y = 2 (not on the curve)', publicKey: le(2n), message: msg, signature: good, valid: false },
  ]
  // Cofactored (noble, the reference) and cofactorless (OpenSSL, BoringSSL) verification differ when R or A
  // has a small-order component; the rule is the reference's, and `verify` must follow it on every platform.
  const mixedA = P.BASE.multiply(a).add(order8).toBytes()
  for (let j = 1n; j <= 2n; j++) {
    const r = 1000n + j
    const R = P.BASE.multiply(r).toBytes()
    const m = concat(msg, [Number(j)])
    cases.push({ name: `key with a small-order component (A + T8), crafted signature ${j}`, publicKey: mixedA, message: m, signature: concat(R, le((r + challenge(R, mixedA, m) * a) % L)), valid: true })
    const R2 = P.BASE.multiply(r).add(order8).toBytes()
    cases.push({ name: `R with a small-order component (R + T8), ${j}`, publicKey: MINER, message: m, signature: concat(R2, le((r + challenge(R2, MINER, m) * a) % L)), valid: true })
  }
  return {
    description: 'Ed25519 (RFC 8032). rfc8032: section 7.1 tests 1-3, signing from the secret key gives exactly these bytes. ' +
      'cases: the verification rule (strict key and R decoding, S < L, small-order keys rejected, cofactored equation), ' +
      'which verify (WebCrypto) and verifyReference (noble) must both follow.',
    rfc8032: [
      { name: 'test 1', secretKey: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', message: '', signature: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b' },
      { name: 'test 2', secretKey: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb', publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c', message: '72', signature: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00' },
      { name: 'test 3', secretKey: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7', publicKey: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025', message: 'af82', signature: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a' },
    ],
    cases: cases.map((c) => ({ name: c.name, publicKey: toHex(c.publicKey), message: toHex(c.message), signature: toHex(c.signature), valid: c.valid })),
  }
}

function hashFile(): unknown {
  const leaf = (i: number): Uint8Array => taggedHash(TAGS.tx, Uint8Array.of(i))
  return {
    description: 'H_tag(data) = SHA256(SHA256("pouw/" + tag) || SHA256("pouw/" + tag) || data). ' +
      'merkle: leaves[i] = H_tx(byte i); nodes H_merkle(left || right), an odd last node promoted unchanged; the empty root is H_merkle().',
    tagged: Object.values(TAGS).flatMap((tag) => [new Uint8Array(0), utf8('abc')].map((data) => ({ tag, data: toHex(data), hash: toHex(taggedHash(tag, data)) }))),
    merkle: [0, 1, 2, 3, 4, 5].map((n) => {
      const leaves = Array.from({ length: n }, (_, i) => leaf(i))
      return { leaves: leaves.map(toHex), root: toHex(merkleRoot(leaves)) }
    }),
  }
}

function bitsFile(): unknown {
  const t64 = (t: bigint): string => t.toString(16).padStart(64, '0')
  const hx = (b: number): string => `0x${b.toString(16).padStart(8, '0')}`
  // Bitcoin's arith_uint256_tests (SetCompact / GetCompact) and a few more
  const valid = [0x1d00ffff, 0x207fffff, 0x1b0404cb, 0, 0x00123456, 0x01003456, 0x02000056, 0x03000000, 0x04000000,
    0x00923456, 0x01803456, 0x02800056, 0x03800000, 0x04800000, 0x01123456, 0x02123456, 0x03123456, 0x04123456,
    0x00800001, 0x05009234, 0x20123456, 0x21008000, 0x2100ffff, 0x22000001, 0xff000000]
  const targets = [0n, 1n, 0x80n, 0x12345600n, 2n ** 255n, 2n ** 256n - 1n, 0xffffn << 208n]
  const invalid = [0x04923456, 0x01fedcba, 0x01810000, 0x20800001, 0xff123456, 0x23000001, 0x22000100, 0x21010000, 0x2200ffff]
  return {
    description: "Compact bits (Bitcoin's nBits). valid: bits -> target, compact = bitsFromTarget(target) (the canonical bits), work = 2^256 / (target + 1). " +
      'fromTarget: target -> bits. invalid: negative (sign bit with a non-zero word) or over 2^256 - 1.',
    valid: valid.map((b) => ({ bits: hx(b), target: t64(targetFromBits(b)), compact: hx(bitsFromTarget(targetFromBits(b))), work: workFromBits(b).toString() })),
    fromTarget: targets.map((t) => ({ target: t64(t), bits: hx(bitsFromTarget(t)) })),
    invalid: invalid.map((b) => ({ bits: hx(b), error: 'PROTOCOL_BAD_VALUE' })),
  }
}

function messageMapFile(): unknown {
  const maps = [[], ['-0'], ['+0'], ['+3', '-17', '+100', '-101', '+109385'], ['-0', '+1', '+2147483647']]
  const theta = f32([1, -1, 0.5, 1e-3, -0, 3.4028234663852886e38, 1.401298464324817e-45, 16777216, 0.1, -2.5])
  const applies = [
    { map: ['+0', '-1', '+3', '-4', '+5', '-6', '+7', '-9'], tau: Math.fround(1e-3) },
    { map: ['-0', '+2', '-3', '+7', '+8'], tau: 1 },
    { map: ['+4', '-6', '+8'], tau: 1.401298464324817e-45 },
    { map: [], tau: 0.5 },
  ]
  return {
    description: 'Message map (paper 003, Fig. 3): entry = sign bit (1: +tau, subtract tau) | 31-bit index; bytes big-endian. ' +
      'apply: applyMessageMap(theta, map, tau), theta and result as little-endian float32 hex.',
    maps: maps.map((m) => ({ map: m, bytes: toHex(messageMapToBytes(mapFromJson(m))) })),
    apply: applies.map(({ map, tau }) => {
      const t = theta.slice()
      applyMessageMap(t, mapFromJson(map), tau)
      return { theta: toHex(float32Bytes(theta)), map, tau, result: toHex(float32Bytes(t)) }
    }),
  }
}

/** Every vector file, by name, as it is written to disk. */
export function buildVectors(): Record<string, unknown> {
  const signed = (name: string): [string, ItRes, Record<string, string>] => {
    const { m, seed } = itRes(name)
    return [name, m, { signingHash: toHex(itResSigningHash(m)), signerSeed: toHex(seed) }]
  }
  return {
    itres: encodingFile('itres', 'IT_RES (paper 003, Table 1), signed with Ed25519 over H_itres-sig(body). hash = H_itres(bytes).',
      [signed('typical'), signed('minimal'), signed('extremes'), signed('peer')], itResInvalid()),
    header: encodingFile('header', 'Block header (172 bytes). hash = H_block-header(bytes).',
      [['with PoUW fields', HEADER_1], ['bits 0x1d00ffff, nonce all ones', HEADER_2]], headerInvalid()),
    tx: encodingFile('tx', 'Coinbase transaction. hash = H_tx(bytes).',
      [['one output', COINBASE_1], ['no outputs', COINBASE_EMPTY], ['extreme values', COINBASE_EXTREMES]], txInvalid()),
    block: encodingFile('block', 'Block: header, u32 count, u32-length-prefixed transactions. hash = the header hash.',
      [['one coinbase', BLOCK_1], ['no transactions', BLOCK_EMPTY], ['three transactions', BLOCK_3]], blockInvalid()),
    task: encodingFile('task', 'Task spec. hash = H_task(bytes).', [
      ['MNIST MLP', TASK_MNIST], ['smallest', TASK_TINY], ['convolutional network (version 3)', TASK_CONV], ['MSE and momentum (version 3)', TASK_MSE],
      ['an MLP of 16 dense layers (version 3: version 2 holds 15 at most)', { ...TASK_TINY, net: mlpNet(Array.from({ length: 17 }, () => 2)) }],
    ], taskInvalid()),
    evidence: encodingFile('evidence', 'Evidence for the lucky iteration; model and residual as little-endian float32 hex.',
      [['two slot messages, one peer update', EVIDENCE_1], ['smallest', EVIDENCE_MIN]], evidenceInvalid()),
    submission: encodingFile('submission', 'Block submission: u16 version 1, block bytes, evidence bytes.',
      [['block and evidence', { block: KINDS.block.encode(BLOCK_1), evidence: evidenceToBytes(EVIDENCE_1) }], ['empty', { block: new Uint8Array(0), evidence: new Uint8Array(0) }]],
      submissionInvalid()),
    verdict: encodingFile('verdict', 'Signed verdict. hash = H_verdict-sig(bytes without the signature), what the verifier signs.',
      ['accepted', 'rejected', 'leading BOM kept', 'longest texts'].map((n) => [n, verdict(n), { signerSeed: toHex(VERIFIER_SEED) }]), verdictInvalid()),
    messageMap: messageMapFile(),
    hash: hashFile(),
    bits: bitsFile(),
    ed25519: ed25519File(),
  }
}

export function vectorFileText(content: unknown): string {
  return `${JSON.stringify(content, null, 2)}\n`
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const [name, content] of Object.entries(buildVectors())) {
    writeFileSync(new URL(`./vectors/${name}.json`, import.meta.url), vectorFileText(content))
    console.log(`wrote vectors/${name}.json`)
  }
}
