/** Random protocol objects from a seeded Prng, for the property and fuzz tests. */
import {
  ACTIVATIONS, BACKENDS, LOSSES, isPouwError, MAX_INDEX, PADDINGS, generateKeyPair, mapEntry, mlpNet, netShapes, signItRes, signVerdict, type Activation,
  type Block, type BlockHeader, type BlockSubmission, type Evidence, type ItRes, type LayerSpec, type MessageMap, type TaskSpec, type Tx,
  type Verdict,
} from '../src/index.js'
import type { Prng } from './helpers.js'

const KEYS = Array.from({ length: 4 }, (_, i) => generateKeyPair(new Uint8Array(32).fill(0x10 + i)))

/** strictly increasing indices anywhere in [0, 2^31), random signs */
export function randomMap(rng: Prng, maxEntries: number): MessageMap {
  const n = rng.int(maxEntries + 1)
  const out = new Uint32Array(n)
  let idx = -1
  const room = Math.floor(MAX_INDEX / Math.max(n, 1))
  for (let i = 0; i < n; i++) {
    idx += 1 + rng.int(rng.bool() ? 3 : room - 1)
    out[i] = mapEntry(rng.bool(), idx)
  }
  return out
}

export function randomItRes(rng: Prng, maxEntries = 300): ItRes {
  const key = rng.pick(KEYS)
  return signItRes({
    taskId: rng.bytes(16), backend: rng.pick(BACKENDS), miner: key.publicKey, iteration: rng.u32(), epoch: rng.int(0x1_0000), batchIndex: rng.u32(),
    map: randomMap(rng, maxEntries), metrics: Array.from({ length: rng.int(17) }, () => rng.float32()),
    tStart: rng.u32(), tFinish: rng.u32(), batchHash: rng.bytes(32), peerUpdatesHash: rng.bytes(32), modelHash: rng.bytes(32),
    residualHash: rng.bytes(32), znbHash: rng.bytes(32), nextPeerMessagesHash: rng.bytes(32),
  }, key.secretKey)
}

export function randomTx(rng: Prng): Tx {
  return {
    type: 'coinbase', height: rng.u32(),
    outputs: Array.from({ length: rng.int(6) }, () => ({ amount: rng.u64(), recipient: rng.bytes(32) })),
  }
}

export function randomHeader(rng: Prng): BlockHeader {
  return {
    version: 1, prevHash: rng.bytes(32), merkleRoot: rng.bytes(32), time: rng.u32(), bits: rng.u32(),
    nonce: rng.bytes(32), hashMsg: rng.bytes(32), hashMsgHist: rng.bytes(32),
  }
}

export function randomBlock(rng: Prng): Block {
  return { header: randomHeader(rng), txs: Array.from({ length: rng.int(5) }, () => randomTx(rng)) }
}

export function randomTask(rng: Prng): TaskSpec {
  const positive = (): number => { let v; do v = Math.abs(rng.float32()); while (v === 0); return v }
  const batchSize = 1 + rng.int(0xffff)
  return {
    taskId: rng.bytes(16), ...randomNetAndRule(rng),
    initSeed: rng.u32(), tau: positive(), learningRate: positive(), batchSize, commitLead: 1 + rng.int(255),
    noncesBatchDiv: 1 + rng.int(0xffff_fffe), noncesModelDiv: 1 + rng.int(0xffff_fffe),
    recordCount: 40 + rng.int(0xffff_ffff - 40), fragmentHashes: Array.from({ length: 10 + rng.int(30) }, () => rng.bytes(32)),
    trainPermille: 1 + rng.int(999), assignment: rng.bool() ? 'interleaved' : 'consistent-hashing',
    kappa: 1 + rng.int(31), loadFactorPermille: 1000 + rng.int(1001), epochs: 1 + rng.int(0xffff), bandPpm: rng.u32(), maxBandDisagreements: rng.u32(),
    expectedSeconds: rng.bool() ? 0 : rng.u32(), hardware: rng.bool() ? 'any' : 'gpu', metric: rng.bool() ? 'accuracy' : 'macro-f1',
  }
}

/**
 * Half the time an MLP by plain SGD (version 2), else a random network with any optimiser and patience (version 3 unless it
 * is plain); drawn again until it keeps to what a network may cost (netShapes).
 */
function randomNetAndRule(rng: Prng): Pick<TaskSpec, 'net' | 'optimizer' | 'patience' | 'valPermille'> {
  for (;;) {
    try {
      const drawn = drawNetAndRule(rng)
      netShapes(drawn.net)
      return drawn
    } catch (e) {
      if (!isPouwError(e) || e.code !== 'PROTOCOL_BAD_VALUE') throw e // a bug in the drawing fails the test
    }
  }
}

function drawNetAndRule(rng: Prng): Pick<TaskSpec, 'net' | 'optimizer' | 'patience' | 'valPermille'> {
  if (rng.bool()) {
    const size = (): number => 1 + rng.int(rng.bool() ? 1 << 16 : 64)
    return { net: mlpNet(Array.from({ length: 2 + rng.int(15) }, size)), optimizer: { kind: 'sgd' }, patience: 0, valPermille: rng.int(1000) }
  }
  const act = (): Activation => rng.pick(ACTIVATIONS)
  const side = 4 + rng.int(30)
  const layers: LayerSpec[] = []
  let [h, spatial] = [side, rng.bool()]
  while (spatial && layers.length < 8 && h >= 3) {
    const l: LayerSpec = rng.pick<LayerSpec>([
      { kind: 'conv2d', filters: 1 + rng.int(1024), kernel: 1 + rng.int(3), stride: 1 + rng.int(2), padding: rng.pick(PADDINGS), activation: act() },
      { kind: rng.bool() ? 'maxPool' : 'avgPool', size: 2, stride: 1 + rng.int(2) },
      { kind: 'batchNorm' }, { kind: 'dropout', ratePermille: 1 + rng.int(900) },
    ])
    layers.push(l)
    const out = netShapes({ input: [side, side, 1], layers: [...layers, { kind: 'flatten' }, { kind: 'dense', units: 2, activation: 'linear' }], loss: 'mse' }).outputs
    h = out[layers.length - 1]![0] ?? h
    spatial = rng.int(3) > 0
  }
  if (layers.length > 0 || rng.bool()) layers.push({ kind: 'flatten' })
  for (let i = rng.int(4); i > 0; i--) layers.push(rng.bool() ? { kind: 'dense', units: 1 + rng.int(4096), activation: act() } : { kind: 'dropout', ratePermille: 1 + rng.int(900) })
  layers.push({ kind: 'dense', units: 2 + rng.int(255), activation: 'linear' })
  const input = layers.some((l) => l.kind === 'flatten') ? [side, side, 1 + rng.int(4)] : [1 + rng.int(1 << 16)]
  const optimizer = rng.pick<TaskSpec['optimizer']>([
    { kind: 'sgd' }, { kind: 'momentum', momentum: Math.fround((1 + rng.int(999)) / 1000) },
    { kind: 'adam', beta1: Math.fround((1 + rng.int(999)) / 1000), beta2: Math.fround((1 + rng.int(999)) / 1000), epsilon: Math.fround((1 + rng.int(999)) / 1e6) },
  ])
  const valPermille = rng.int(1000)
  return { net: { input, layers, loss: rng.pick(LOSSES) }, optimizer, patience: valPermille > 0 ? rng.int(100) : 0, valPermille }
}

/** model and residual from random bits: NaN payloads, infinities and -0 included */
export function randomEvidence(rng: Prng): Evidence {
  const floats = (): Float32Array => new Float32Array(rng.bytes(4 * rng.int(64)).buffer)
  return {
    slot: Array.from({ length: 1 + rng.int(4) }, () => rng.bytes(rng.int(400))),
    model: floats(), residual: floats(),
    peerUpdates: Array.from({ length: rng.int(4) }, () => rng.bytes(rng.int(400))),
  }
}

export function randomSubmission(rng: Prng): BlockSubmission {
  return { block: rng.bytes(rng.int(600)), evidence: rng.bytes(rng.int(600)) }
}

const CHARS = ['a', 'Z', '0', ' ', '_', ':', 'é', 'τ', '€', '\u0000', '\ufeff', '😀', '中']

/** strings of at most `maxBytes` UTF-8 bytes (so they survive the 1024-byte cap unchanged) */
export function randomText(rng: Prng, maxBytes: number): string {
  let s = ''
  const target = rng.int(maxBytes + 1)
  for (;;) {
    const c = rng.pick(CHARS)
    if (new TextEncoder().encode(s + c).length > target) return s
    s += c
  }
}

export function randomVerdict(rng: Prng): Verdict {
  const key = rng.pick(KEYS)
  const accepted = rng.bool()
  return signVerdict({
    blockHash: rng.bytes(32), accepted, code: randomText(rng, accepted ? 0 : 40), detail: randomText(rng, rng.bool() ? 1024 : 100),
    height: rng.u32(), tipHash: rng.bytes(32), tipHeight: rng.u32(), tipWindow: Array.from({ length: 1 + rng.int(4) }, () => ({ time: rng.u32(), bits: rng.u32() })), nextBits: rng.u32(), seal: rng.bytes(32), verifier: key.publicKey,
  }, key.secretKey)
}
