import {
  PUBKEY_OUTPUT_SIZE, PUBLIC_KEY_SIZE, SIGNATURE_SIZE, TX_INPUT_SIZE, compareBytes, signAsync, toHex, txSigHash,
  type Approval, type OutPoint, type TransferTx,
} from '@pouw/protocol'
import { agreementThreshold } from './finalisation.js'
import { DEFAULT_MEMPOOL_POLICY } from './params.js'
import type { Payout } from './tickets.js'
import { payTo } from './wallet.js'

/**
 * Building a CHARGE_FOR_TASK (protocol tx.ts TaskCharge): the evaluators
 * agree on a conclusion and compute the same payouts (finalisation.ts
 * computeCharge); each of them builds the same unsigned charge from them
 * with chargeTx and signs it with approveCharge; any ceil(2n/3) approvals
 * make it valid (utxo.ts approvalChecks). Everything here is deterministic,
 * so the evaluators' transactions agree byte for byte up to the approvals.
 */

/** Encoded size of a charge with these inputs and outputs and `approvals` approvals. */
export function chargeSize(inputs: number, payouts: number, approvals: number): number {
  return 2 + 1 + 2 + inputs * TX_INPUT_SIZE + 2 + payouts * PUBKEY_OUTPUT_SIZE + 32 + 32 + 1 + approvals * (PUBLIC_KEY_SIZE + SIGNATURE_SIZE)
}

/**
 * The transaction fee a charge sets aside for the block that mines it: the
 * mempool's minimum fee rate times its size with every evaluator's approval
 * (the most it can carry), so it is relayed whichever approvals it gathers.
 */
export function chargeTxFee(inputs: number, payouts: number, evaluators: number, feeRate = DEFAULT_MEMPOOL_POLICY.minFeeRate): bigint {
  return feeRate * BigInt(chargeSize(inputs, payouts, evaluators))
}

/**
 * The unsigned charge: spends the task's fee coins (in outpoint order, all-zero
 * input signatures) and pays `payouts` in their order, one plain output each.
 * The caller deducts the transaction fee before computing the payouts.
 */
export function chargeTx(feeCoins: readonly OutPoint[], taskHash: Uint8Array, resultHash: Uint8Array, payouts: readonly Payout[]): TransferTx {
  const inputs = [...feeCoins]
    .sort((a, b) => compareBytes(a.txHash, b.txHash) || a.index - b.index)
    .map((prevout) => ({ prevout, signature: new Uint8Array(SIGNATURE_SIZE) }))
  return {
    type: 'transfer', inputs, outputs: payouts.map((p) => payTo(p.recipient, p.amount)),
    charge: { taskHash, resultHash, approvals: [] },
  }
}

/** One evaluator's approval of a charge: its Ed25519 signature over txSigHash (approvals are not signed). */
export async function approveCharge(tx: TransferTx, evaluatorSecretKey: Uint8Array, evaluatorPublicKey: Uint8Array): Promise<Approval> {
  if (tx.charge === undefined) throw new Error('internal: approveCharge takes a charge')
  return { evaluator: evaluatorPublicKey, signature: await signAsync(evaluatorSecretKey, txSigHash(tx)) }
}

/**
 * The charge with `approvals` attached once there are enough for `evaluators`
 * (agreementThreshold), sorted by key, one per evaluator and only the
 * committee's; undefined while there are fewer. Approvals are not checked
 * here (the chain does that); pass the ones that verified.
 */
export function withApprovals(tx: TransferTx, approvals: readonly Approval[], evaluators: readonly Uint8Array[]): TransferTx | undefined {
  if (tx.charge === undefined) throw new Error('internal: withApprovals takes a charge')
  const members = new Set(evaluators.map(toHex))
  const byKey = new Map<string, Approval>()
  for (const a of approvals) if (members.has(toHex(a.evaluator))) byKey.set(toHex(a.evaluator), a)
  const needed = agreementThreshold(members.size)
  if (byKey.size < needed) return undefined
  const chosen = [...byKey.values()].sort((a, b) => compareBytes(a.evaluator, b.evaluator)).slice(0, needed)
  return { ...tx, charge: { ...tx.charge, approvals: chosen } }
}
