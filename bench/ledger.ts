/**
 * Ledger figures (issue 4): signed transfers validated and applied to a UTXO
 * view, and a full block of transfers validated from its bytes. Runs alone
 * (`node --import ./scripts/node-polyfills.mjs --import tsx bench/ledger.ts`)
 * or from bench/run.ts. Every rate has its baseline from the same run: the
 * same work with noble (pure JS) signature verification instead of WebCrypto.
 */
import { pathToFileURL } from 'node:url'
import {
  BLOCK_VERSION, NONCE_OFFSET, coinbaseOutputs, SIGNATURE_SIZE, TAGS, ZERO_HASH, blockFromBytes, blockToBytes, combineSignatures, compareBytes,
  computeMerkleRoot, generateKeyPair, hashMeetsTarget, headerHashFromBytes, headerToBytes, nativeVerifyInUse, workFromBits,
  signAsync, signShare, signVerifierApproval, slotHash, taggedHash, targetFromBits, txSigHash, verify, verifyReference,
  type Block, type CoinbaseTx, type HistoryAnchor, type KeyPair, type OutPoint, type TransferTx, type Tx,
} from '@pouw/protocol'
import {
  checkBlockTxs, connectBlock, createChainEntry, createGenesisEntry, difficultyToBits, outpointKey, timingOf, validateBlock,
  type ChainEntry, type ChainParams, type Coin, type VerifyFn,
} from '@pouw/ledger'
import { mineFromPrecursor, runDkg } from '../packages/ledger/test/fixtures.js'

type Emit = (name: string, value: number, unit: string, note: string) => void

const PARAMS: ChainParams = { networkName: 'bench', genesisTime: 1_700_000_000, bits: difficultyToBits(2n), subsidy: 50_0000_0000n, maxFutureSeconds: 7_200 }
const KEYS = 64
const PER_BLOCK = 1_000
const BLOCKS = 4
const BIG_BLOCK = 2_000
const NOBLE_TXS = 200

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/** `n` coins of 10,000 spread over the keys, and one signed transfer (1 input, 2 outputs) spending each. */
async function workload(keys: KeyPair[], n: number, tag: number): Promise<{ coins: [string, Coin][]; txs: TransferTx[] }> {
  const coins: [string, Coin][] = []
  const txs: TransferTx[] = []
  for (let i = 0; i < n; i++) {
    const owner = keys[i % keys.length]!
    const outpoint: OutPoint = { txHash: Uint8Array.from({ length: 32 }, (_, k) => (k < 4 ? (i >>> (8 * k)) & 0xff : tag)), index: i % 3 }
    coins.push([outpointKey(outpoint), { amount: 10_000n, recipient: owner.publicKey, lock: { kind: 'pubkey' }, height: 0, coinbase: false }])
    const unsigned: TransferTx = {
      type: 'transfer', inputs: [{ prevout: outpoint, signature: new Uint8Array(SIGNATURE_SIZE) }],
      outputs: [{ amount: 6_000n, recipient: keys[(i + 1) % keys.length]!.publicKey, lock: { kind: 'pubkey' } },
        { amount: 3_000n, recipient: owner.publicKey, lock: { kind: 'pubkey' } }],
    }
    txs.push(unsigned)
  }
  const sigs = await Promise.all(txs.map((t, i) => signAsync(keys[i % keys.length]!.secretKey, txSigHash(t))))
  return { coins, txs: txs.map((t, i) => ({ ...t, inputs: [{ ...t.inputs[0]!, signature: sigs[i]! }] })) }
}

function blockOf(txs: TransferTx[], height: number, fees: bigint, prevHash: Uint8Array, time: number, coinbase?: CoinbaseTx): Block {
  const all: Tx[] = [coinbase ?? { type: 'coinbase', height, outputs: [{ amount: PARAMS.subsidy + fees, recipient: new Uint8Array(32).fill(1) }] }, ...txs]
  const header = {
    version: BLOCK_VERSION, prevHash, merkleRoot: computeMerkleRoot(all), time, bits: PARAMS.bits,
    nonce: ZERO_HASH, hashMsg: ZERO_HASH, hashMsgHist: ZERO_HASH,
  }
  const bytes = headerToBytes(header)
  const view = new DataView(bytes.buffer)
  const target = targetFromBits(PARAMS.bits)
  for (let n = 0; !hashMeetsTarget(headerHashFromBytes(bytes), target); n++) view.setUint32(NONCE_OFFSET + 28, n)
  return { header: { ...header, nonce: bytes.slice(NONCE_OFFSET, NONCE_OFFSET + 32) }, txs: all }
}

/** Context-free checks, then the UTXO rules and signatures, of BLOCKS blocks of PER_BLOCK transfers: transfers per second. */
async function txPerSecond(blocks: Block[], coins: [string, Coin][], verifyFn: VerifyFn): Promise<number> {
  const view = new Map(coins)
  let n = 0
  const t0 = performance.now()
  for (const [h, block] of blocks.entries()) {
    const txHashes = checkBlockTxs(block, PARAMS)
    await connectBlock(view, block.txs, h + 1, PARAMS, { verify: verifyFn, txHashes })
    n += block.txs.length - 1
  }
  return (n * 1000) / (performance.now() - t0)
}

/**
 * A full block's setting (docs/protocol.md §9.6, §9.7): ten verifiers, who also ran the supervisors'
 * DKG; a parent mined Algorithm 2's way from a nonce precursor; the coinbase collects the ten
 * verifiers' approvals of the parent (the whole subsidy) and anchors a threshold-signed slot.
 */
function fullBlockSetting(): { params: ChainParams; parent: ChainEntry; coinbase: (fees: bigint) => CoinbaseTx } {
  const verifiers = Array.from({ length: 10 }, (_, i) => generateKeyPair(new Uint8Array(32).fill(200 + i))).sort((a, b) => compareBytes(a.publicKey, b.publicKey))
  const params: ChainParams = { ...PARAMS, verification: { verifiers: verifiers.map((k) => k.publicKey), perBlock: 10, noncesPerIteration: 1_000 } }
  const precursor = taggedHash(TAGS.noncePrecursor, Uint8Array.of(1))
  const genesis = createGenesisEntry(params)
  const parentTxs: Tx[] = [{ type: 'coinbase', height: 1, outputs: [] }]
  const { header } = mineFromPrecursor({ header: { ...genesis.header, prevHash: genesis.hash, merkleRoot: computeMerkleRoot(parentTxs), time: PARAMS.genesisTime + 30 }, txs: parentTxs }, precursor)
  const parent = createChainEntry({ header, txs: parentTxs }, 1, genesis.cumulativeWork + workFromBits(header.bits), header.time)
  const dkg = runDkg(verifiers)
  const unsigned = { type: 'history' as const, taskId: new Uint8Array(16), epoch: 0, slot: 41, prevSlotHash: new Uint8Array(32).fill(1), messages: [new Uint8Array(32).fill(2)] }
  const t = dkg.results[0]!.t
  const shares = dkg.results.slice(0, t).map((r) => ({ index: r.index, signature: signShare(r.secretShare, slotHash(unsigned)) }))
  const history: HistoryAnchor = { attempt: 0, successes: dkg.proof, record: { ...unsigned, signature: combineSignatures(shares, t) } }
  const collect = { block: parent.hash, approvals: verifiers.map((k) => signVerifierApproval(parent.hash, precursor, k)) }
  return { params, parent, coinbase: (fees) => ({ type: 'coinbase', height: 2, outputs: coinbaseOutputs(new Uint8Array(32).fill(1), PARAMS.subsidy, fees, collect), collect, history }) }
}

/** From the block's bytes: decode, validateBlock (context-free rules, Merkle root, header, the history anchor), connectBlock (the collect too). */
async function validateBlockMs(bytes: Uint8Array, coins: [string, Coin][], verifyFn: VerifyFn, params: ChainParams, parent: ChainEntry): Promise<number> {
  const view = new Map(coins)
  const t0 = performance.now()
  const block = blockFromBytes(bytes)
  const v = validateBlock(parent, block, params, PARAMS.genesisTime + 100, [timingOf(parent)])
  await connectBlock(view, block.txs, v.height, params, { verify: verifyFn, txHashes: v.txHashes, parent })
  return performance.now() - t0
}

export async function ledgerFigures(emit: Emit): Promise<void> {
  const keys = Array.from({ length: KEYS }, (_, i) => generateKeyPair(new Uint8Array(32).fill(i + 1)))
  const small = await workload(keys, PER_BLOCK * BLOCKS, 1)
  const fees = (n: number): bigint => BigInt(n) * 1_000n
  const blocks = Array.from({ length: BLOCKS }, (_, b) => blockOf(small.txs.slice(b * PER_BLOCK, (b + 1) * PER_BLOCK), b + 1, fees(PER_BLOCK), ZERO_HASH, PARAMS.genesisTime))
  const nobleBlock = blockOf(small.txs.slice(0, NOBLE_TXS), 1, fees(NOBLE_TXS), ZERO_HASH, PARAMS.genesisTime)
  const big = await workload(keys, BIG_BLOCK, 2)
  const full = fullBlockSetting()
  const bigBytes = blockToBytes(blockOf(big.txs, 2, fees(BIG_BLOCK), full.parent.hash, PARAMS.genesisTime + 60, full.coinbase(fees(BIG_BLOCK))))

  await txPerSecond(blocks.slice(0, 1), small.coins, verify) // warm-up: JIT, WebCrypto key imports
  const native: number[] = []
  const noble: number[] = []
  const blockNative: number[] = []
  for (let round = 0; round < 3; round++) {
    native.push(await txPerSecond(blocks, small.coins, verify))
    blockNative.push(await validateBlockMs(bigBytes, big.coins, verify, full.params, full.parent))
    // noble is ~10x slower: a smaller block keeps the run short
    noble.push(await txPerSecond([nobleBlock], small.coins, verifyReference))
  }
  const how = nativeVerifyInUse() ? 'Ed25519 through native WebCrypto (noble settles any native false)' : 'Ed25519 through noble (no native WebCrypto Ed25519 here)'
  emit('ledger_tx_per_s', median(native), 'tx/s',
    `signed transfers (1 input, 2 outputs, ${KEYS} keys) checked (checkBlockTxs: context-free rules, txHash) and applied (connectBlock: UTXO lookups, maturity/locks, amounts, sighash, batched signature checks, view update), ${BLOCKS} blocks of ${PER_BLOCK}, median of 3 rounds; ${how}; goal >= 5,000; paper 001 claims 847 tx/s; same work with noble verification: ${median(noble).toFixed(0)} tx/s (ledger_tx_per_s_noble)`)
  emit('ledger_tx_per_s_noble', median(noble), 'tx/s', `baseline for ledger_tx_per_s measured in the same run: the same transfers and checks with noble (pure JS) Ed25519 verification, blocks of ${NOBLE_TXS}, median of 3`)
  emit('block_validate_ms', median(blockNative), 'ms',
    `a block of ${BIG_BLOCK} signed transfers (${bigBytes.length} bytes) whose coinbase collects its parent's 10 verifier approvals and anchors a threshold-signed history slot with a 10-member DKG proof, from its bytes: decode, validateBlock (rules, Merkle root, header hash, the anchor: 10 Ed25519 and one pairing check the first time, the pairing alone once the proof is known), connectBlock (UTXO rules, ${BIG_BLOCK} transfer and 10 approval signatures); no proof-of-useful-work re-run; median of 3; ${how}; at the noble rate (ledger_tx_per_s_noble) the transfers alone would take about ${(BIG_BLOCK * 1000 / median(noble)).toFixed(0)} ms`)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await ledgerFigures((name, value, unit, note) => console.log(JSON.stringify({ name, value: Number(value.toPrecision(4)), unit, note })))
}
