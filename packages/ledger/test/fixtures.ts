import {
  BLOCK_VERSION, DkgSession, NONCE_OFFSET, addToNonce, headerHash, nonceFromPrecursor, SIGNATURE_SIZE, ZERO_HASH, computeMerkleRoot, generateKeyPair, hashMeetsTarget, headerHashFromBytes,
  headerToBytes, sign, targetFromBits, thresholdFor, txSigHash,
  type Block, type BlockHeader, type DkgMessage, type DkgResult, type DkgSuccess, type KeyPair, type OutPoint, type TransferOutput,
  type TransferTx, type TxOutput,
} from '@pouw/protocol'
import { difficultyToBits, type ChainEntry, type ChainParams } from '../src/index.js'
import { Prng } from '../../protocol/test/helpers.js'

/** The DKG's randomness, seeded: the same bytes in every run (as dkg.test feeds it). */
const seeded = (seed: number): ((n: number) => Uint8Array) => { const p = new Prng(seed); return (n) => p.bytes(n) }

/** Blocks need about two header hashes: mining in tests is instant. */
export const PARAMS: ChainParams = {
  networkName: 'pouw-test',
  genesisTime: 1_700_000_000,
  bits: difficultyToBits(2n),
  subsidy: 50_000n,
  maxFutureSeconds: 7_200,
}

export const NOW = PARAMS.genesisTime + 1_000_000

export function recipient(seed: number): Uint8Array {
  return new Uint8Array(32).fill(seed)
}

export interface BlockSpec {
  time?: number
  bits?: number
  height?: number
  outputs?: TxOutput[]
  /** set the merkle root by hand instead of computing it */
  merkleRoot?: Uint8Array
  /** distinguishes sibling blocks: pays the subsidy to recipient(seed) */
  seed?: number
  /** transfers after the coinbase */
  txs?: TransferTx[]
}

/** An unmined block on top of `parent` that passes every rule unless `spec` says otherwise. */
export function blockOn(parent: ChainEntry, spec: BlockSpec = {}, params = PARAMS): Block {
  const txs: Block['txs'] = [{
    type: 'coinbase',
    height: spec.height ?? parent.height + 1,
    outputs: spec.outputs ?? [{ amount: params.subsidy, recipient: recipient(spec.seed ?? 1) }],
  }, ...(spec.txs ?? [])]
  const header: BlockHeader = {
    version: BLOCK_VERSION, prevHash: parent.hash, merkleRoot: spec.merkleRoot ?? computeMerkleRoot(txs),
    time: spec.time ?? parent.header.time + 60, bits: spec.bits ?? params.bits,
    nonce: ZERO_HASH, hashMsg: ZERO_HASH, hashMsgHist: ZERO_HASH,
  }
  return { header, txs }
}

/** Rewrites the nonce until the header hash meets (or, with `fail`, misses) the target of its bits. */
export function mine(block: Block, fail = false): Block {
  const bytes = headerToBytes(block.header)
  const view = new DataView(bytes.buffer)
  const target = targetFromBits(block.header.bits)
  for (let n = 0; n < 1_000_000; n++) {
    view.setUint32(NONCE_OFFSET + 28, n)
    if (hashMeetsTarget(headerHashFromBytes(bytes), target) !== fail) {
      return { ...block, header: { ...block.header, nonce: bytes.slice(NONCE_OFFSET, NONCE_OFFSET + 32) } }
    }
  }
  throw new Error('no nonce found')
}

/**
 * Mines `block` Algorithm 2's way: nonces H(precursor) + j for j < `nonces` (the block's verifiers
 * then reveal `precursor`, and the chain checks it gives the nonce).
 */
export function mineFromPrecursor(block: Block, precursor: Uint8Array, nonces = 1_000): Block {
  const base = nonceFromPrecursor(precursor)
  for (let j = 0; j < nonces; j++) {
    const header = { ...block.header, nonce: addToNonce(base, j) }
    if (hashMeetsTarget(headerHash(header), targetFromBits(header.bits))) return { ...block, header }
  }
  throw new Error(`no nonce within the iteration's ${nonces}`)
}

/** A mined, valid block on top of `parent`. */
export function minedOn(parent: ChainEntry, spec: BlockSpec = {}): Block {
  return mine(blockOn(parent, spec))
}

/** A deterministic key pair per number. */
export function keyPair(n: number): KeyPair {
  return generateKeyPair(new Uint8Array(32).fill(n))
}

/** A plain output. */
export function pay(to: KeyPair | Uint8Array, amount: bigint): TransferOutput {
  return { amount, recipient: to instanceof Uint8Array ? to : to.publicKey, lock: { kind: 'pubkey' } }
}

/** A transfer spending `spends`, each signed by its key (noble, synchronous). */
export function transfer(spends: { outpoint: OutPoint; key: KeyPair }[], outputs: TransferOutput[]): TransferTx {
  const unsigned: TransferTx = {
    type: 'transfer', inputs: spends.map((s) => ({ prevout: s.outpoint, signature: new Uint8Array(SIGNATURE_SIZE) })), outputs,
  }
  const message = txSigHash(unsigned)
  return { ...unsigned, inputs: spends.map((s) => ({ prevout: s.outpoint, signature: sign(s.key.secretKey, message) })) }
}

/**
 * The Joint-Feldman DKG of `members` (keys sorted bytewise: the committee order) run to completion
 * in process, every message reaching every other member: each member's result and the
 * DKG_SUCCESSFUL proof (the qualified members' DkgSuccess messages) a history anchor carries.
 */
export function runDkg(members: KeyPair[], attempt = 0): { results: DkgResult[]; proof: DkgSuccess[] } {
  const committee = members.map((k) => k.publicKey)
  const t = thresholdFor(members.length)
  const sessions = members.map((k, i) => new DkgSession({ committee, keys: k, t, attempt, randomBytes: seeded(i + 100 * attempt) }))
  const queue: { from: number; msg: DkgMessage }[] = sessions.flatMap((s, i) => s.start().map((msg) => ({ from: i, msg })))
  for (let steps = 0; queue.length > 0; steps++) {
    if (steps > 100_000) throw new Error('the DKG exchange does not end')
    const { from, msg } = queue.shift()!
    sessions.forEach((s, i) => { if (i !== from) for (const m of s.receive(msg)) queue.push({ from: i, msg: m }) })
  }
  const proof = sessions[0]!.successProof()
  if (proof === undefined) throw new Error('the DKG did not complete')
  return { results: sessions.map((s) => s.result()!), proof }
}
