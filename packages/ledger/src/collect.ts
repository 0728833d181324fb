import {
  MAX_COMMITTEE_SIZE, approvalSigningHash, bytesEqual, chooseVerifiers, compareBytes, nonceFromPrecursor, nonceOffset, toHex,
  type CoinbaseTx,
} from '@pouw/protocol'
import type { ChainEntry } from './chainEntry.js'
import { ledgerError } from './errors.js'
import type { ChainParams } from './params.js'
import type { SigCheck } from './utxo.js'

/**
 * COLLECT_VERIFICATIONS and the subsidy it proves (paper 003 §5.2): "the next block subsidy is
 * proportional to [the confirmations] (in increments of 10%, up to 100% ... when 10 approvals are
 * collected)", and "the transactions containing digests for the previous block are included in
 * the current block to prove the subsidy amount in the coinbase".
 *
 * Here a block's coinbase carries the approvals of its parent (tx.ts Collect): each is a chosen
 * verifier's signed reveal of the nonce precursor it rebuilt, which must give the parent's nonce.
 * The coinbase may claim subsidy × floor(10 × approvals / chosen) / 10: with the paper's ten
 * verifiers a tenth per approval; with fewer (a small testnet, where chooseVerifiers picks every
 * supervisor) the same fraction of the chosen, so all of them approving is the whole subsidy.
 */

/**
 * Throws RangeError unless the verification parameters are usable: 1 to 64 distinct 32-byte keys,
 * at least one verifier per block and one nonce per iteration (Chain.open checks them).
 */
export function checkVerificationParams(v: VerificationParams): void {
  // (they are the supervisors' DKG committee too: at most MAX_COMMITTEE_SIZE, and so never more than a collect carries)
  if (v.verifiers.length < 1 || v.verifiers.length > MAX_COMMITTEE_SIZE) throw new RangeError(`a chain has 1 to ${MAX_COMMITTEE_SIZE} verifiers, got ${v.verifiers.length}`)
  if (v.verifiers.some((k) => k.length !== 32)) throw new RangeError('a verifier key is not 32 bytes')
  if (new Set(v.verifiers.map(toHex)).size !== v.verifiers.length) throw new RangeError('the verifiers repeat a key')
  if (!Number.isSafeInteger(v.perBlock) || v.perBlock < 1) throw new RangeError(`verifiers per block must be a positive integer, got ${v.perBlock}`)
  if (!Number.isSafeInteger(v.noncesPerIteration) || v.noncesPerIteration < 1) throw new RangeError(`nonces per iteration must be a positive integer, got ${v.noncesPerIteration}`)
}

/**
 * The most a coinbase can claim without the UTXO set or the parent (checkBlockTxs bounds a
 * coinbase-only block with it): the whole subsidy at height 1 (on genesis) or without
 * params.verification; with them, what its collect's approvals could prove at best, all of them
 * by chosen verifiers (nothing without a collect).
 */
export function subsidyBound(coinbase: CoinbaseTx, params: ChainParams): bigint {
  const v = params.verification
  if (v === undefined || coinbase.height <= 1) return params.subsidy
  const k = coinbase.collect?.approvals.length ?? 0
  return collectedSubsidy(params.subsidy, k, Math.min(v.perBlock, v.verifiers.length))
}

/** The verifier set a chain's blocks are chosen from, and what checking a precursor needs. */
export interface VerificationParams {
  /** the supervisors' Ed25519 keys each block's verifiers are chosen from (chooseVerifiers) */
  verifiers: Uint8Array[]
  /** verifiers chosen per block (VERIFIERS_PER_BLOCK, ten) */
  perBlock: number
  /** the nonces an iteration may try (protocol noncesPerIteration of the chain's task): a precursor gives the nonce within these */
  noncesPerIteration: number
}

/** subsidy × floor(10 × approvals / chosen) / 10: the subsidy in 10% steps (nothing when no verifier was chosen). */
export function collectedSubsidy(subsidy: bigint, approvals: number, chosen: number): bigint {
  if (chosen < 1) return 0n
  const steps = Math.min(10, Math.floor((10 * approvals) / chosen))
  return (subsidy * BigInt(steps)) / 10n
}

/**
 * Rule: what the coinbase of a block on `parent` may claim as subsidy (fees come on top), and the
 * approvals' signatures to batch with the block's others. With params.verification:
 * - on genesis (nothing to verify) the whole subsidy, and no collect;
 * - without a collect, nothing;
 * - a collect names the parent, its approvals are sorted by key with no repeat, each by one of the
 *   parent's chosen verifiers, each precursor gives the parent's nonce (LEDGER_BAD_COLLECT); the
 *   subsidy is collectedSubsidy of them.
 * Without params.verification (unit tests, benchmarks), the whole subsidy and no collect.
 */
export function collectRule(coinbase: CoinbaseTx, parent: ChainEntry | undefined, params: ChainParams): { subsidy: bigint; sigChecks: SigCheck[] } {
  const v = params.verification
  const c = coinbase.collect
  if (v !== undefined && parent === undefined) throw new Error('internal: a chain with verifiers checks a coinbase knowing its parent')
  if (v === undefined || parent!.height === 0) {
    if (c !== undefined) throw ledgerError('BAD_COLLECT', v === undefined ? 'this chain has no verifiers to collect' : 'the genesis block has no verifications to collect')
    return { subsidy: params.subsidy, sigChecks: [] }
  }
  if (c === undefined) return { subsidy: 0n, sigChecks: [] }
  parent = parent!
  if (!bytesEqual(c.block, parent.hash)) throw ledgerError('BAD_COLLECT', `the coinbase collects the verifications of ${toHex(c.block)}, not of its parent ${parent.hashHex}`)
  const chosen = chooseVerifiers(parent.hash, v.verifiers, v.perBlock)
  const members = new Set(chosen.map(toHex))
  const sigChecks: SigCheck[] = []
  for (const [n, a] of c.approvals.entries()) {
    if (n > 0 && compareBytes(c.approvals[n - 1]!.verifier, a.verifier) >= 0) throw ledgerError('BAD_COLLECT', 'the approvals are not sorted by verifier key, or one repeats')
    if (!members.has(toHex(a.verifier))) throw ledgerError('BAD_COLLECT', `approval ${n} is by ${toHex(a.verifier)}, not one of the parent's ${chosen.length} verifiers`, { approval: n })
    if (nonceOffset(nonceFromPrecursor(a.precursor), parent.header.nonce, v.noncesPerIteration) < 0) {
      throw ledgerError('BAD_COLLECT', `approval ${n}'s precursor does not give the parent's nonce`, { approval: n })
    }
    sigChecks.push({ publicKey: a.verifier, message: approvalSigningHash(parent.hash, a.precursor), signature: a.signature, tx: 0, input: -1, approval: n })
  }
  return { subsidy: collectedSubsidy(params.subsidy, c.approvals.length, chosen.length), sigChecks }
}
