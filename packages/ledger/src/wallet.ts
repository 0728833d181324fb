import {
  PUBKEY_OUTPUT_SIZE, SIGNATURE_SIZE, VRF_PROOF_SIZE, TX_INPUT_SIZE, bytesEqual, generateKeyPair, signAsync, transferOutputToBytes, txSigHash,
  type KeyPair, type OutPoint, type OutputLock, type TransferOutput, type TransferTx,
} from '@pouw/protocol'
import { ledgerError } from './errors.js'
import { DEFAULT_MEMPOOL_POLICY, type ChainParams } from './params.js'
import { outpointKey, spendRuleBroken, type Coin } from './utxo.js'

/** What a wallet reads: the tip's height and the coins of a key (Chain has both). */
export interface WalletSource {
  readonly params: ChainParams
  tip(): { height: number }
  coinsOf(recipient: Uint8Array): Promise<{ outpoint: OutPoint; coin: Coin }[]>
}

export interface OwnedCoin { outpoint: OutPoint; coin: Coin }

export interface WalletBalance {
  /** every unspent output paying the key */
  total: bigint
  /** what a transfer in the next block may spend (mature, unlocked, not spent in the mempool) */
  spendable: bigint
  /** coinbase outputs not yet mature */
  immature: bigint
  /** stakes before their expiry, task fees past their revoke height, outputs spent by mempool transactions */
  locked: bigint
}

export interface TransferRequest {
  /** the outputs to pay (change comes on top) */
  outputs: TransferOutput[]
  /** fee per encoded byte; DEFAULT_MEMPOOL_POLICY.minFeeRate when absent */
  feeRate?: bigint
  /** outpoints not to spend (e.g. Mempool.isSpent: already spent by a pending transaction) */
  exclude?: (outpoint: OutPoint) => boolean
}

/** Encoded size of a transfer with `inputs` inputs and these outputs. */
export function transferSize(inputs: number, outputs: readonly TransferOutput[]): number {
  let size = 2 + 1 + 2 + inputs * TX_INPUT_SIZE + 2
  for (const o of outputs) size += transferOutputToBytes(o).length
  return size
}

/** A plain output paying `amount` to `recipient`. */
export function payTo(recipient: Uint8Array, amount: bigint): TransferOutput {
  return { amount, recipient, lock: { kind: 'pubkey' } }
}

/**
 * Signs every input of `tx` (signatures ignored) with the secret key of the
 * coin it spends: secretKeys[i] for input i. All inputs sign the same
 * txSigHash; Ed25519 is deterministic, so one key signs once.
 */
export async function signTransfer(tx: TransferTx, secretKeys: readonly Uint8Array[]): Promise<TransferTx> {
  if (secretKeys.length !== tx.inputs.length) throw new Error(`internal: ${secretKeys.length} keys for ${tx.inputs.length} inputs`)
  const unsigned: TransferTx = { ...tx, inputs: tx.inputs.map((i) => ({ prevout: i.prevout, signature: new Uint8Array(SIGNATURE_SIZE) })) }
  const message = txSigHash(unsigned)
  const done: { key: Uint8Array; sig: Promise<Uint8Array> }[] = []
  const sigs = secretKeys.map((key) => {
    let d = done.find((x) => bytesEqual(x.key, key))
    if (d === undefined) { d = { key, sig: signAsync(key, message) }; done.push(d) }
    return d.sig
  })
  const signatures = await Promise.all(sigs)
  return { ...unsigned, inputs: unsigned.inputs.map((i, n) => ({ prevout: i.prevout, signature: signatures[n]! })) }
}

/**
 * Coin selection, deterministic: largest coins first (then outpoint order)
 * until they pay the outputs and the fee of the transaction they make.
 * A change output is added when the rest is worth more than its own fee;
 * otherwise the rest goes to the fee. Throws LEDGER_INSUFFICIENT_FUNDS.
 */
export function selectCoins(coins: readonly OwnedCoin[], outputs: readonly TransferOutput[], feeRate: bigint, change: Uint8Array):
  { inputs: OwnedCoin[]; outputs: TransferOutput[]; fee: bigint } {
  let pay = 0n
  for (const o of outputs) pay += o.amount
  const sorted = [...coins].sort((a, b) =>
    a.coin.amount !== b.coin.amount ? (a.coin.amount > b.coin.amount ? -1 : 1) : outpointKey(a.outpoint) < outpointKey(b.outpoint) ? -1 : 1)
  const inputs: OwnedCoin[] = []
  let have = 0n
  for (const c of sorted) {
    inputs.push(c)
    have += c.coin.amount
    const feeWithout = feeRate * BigInt(transferSize(inputs.length, outputs))
    if (have < pay + feeWithout) continue
    const feeWith = feeRate * BigInt(transferSize(inputs.length, outputs) + PUBKEY_OUTPUT_SIZE)
    if (have > pay + feeWith) return { inputs, outputs: [...outputs, payTo(change, have - pay - feeWith)], fee: feeWith }
    return { inputs, outputs: [...outputs], fee: have - pay }
  }
  throw ledgerError('INSUFFICIENT_FUNDS', `spendable ${have} does not cover ${pay} plus the fee`, { have: String(have), pay: String(pay) })
}

/** How `coins` split for a transfer in a block at `height` (the tip's + 1); `exclude`d coins count as locked. */
export function balanceOf(coins: readonly OwnedCoin[], height: number, params: ChainParams, exclude?: (outpoint: OutPoint) => boolean): WalletBalance {
  const b: WalletBalance = { total: 0n, spendable: 0n, immature: 0n, locked: 0n }
  for (const { outpoint, coin } of coins) {
    b.total += coin.amount
    const broken = spendRuleBroken(coin, height, params, '')
    if (broken?.code === 'LEDGER_IMMATURE_COINBASE') b.immature += coin.amount
    // a task fee is never spendable by a payment: only REVOKE_TASK takes it back (Wallet.revokeTask)
    else if (broken !== undefined || coin.lock.kind === 'task-fee' || exclude?.(outpoint) === true) b.locked += coin.amount
    else b.spendable += coin.amount
  }
  return b
}

/**
 * One Ed25519 key and the coins that pay it. Balances and spendable coins
 * are read from a WalletSource (the chain) at the next block's height;
 * transfers are built, with change back to this key, and signed here.
 */
export class Wallet {
  constructor(readonly keys: KeyPair = generateKeyPair()) {}

  static fromSeed(seed: Uint8Array): Wallet {
    return new Wallet(generateKeyPair(seed))
  }

  get publicKey(): Uint8Array {
    return this.keys.publicKey
  }

  /** Coins a transfer in the next block may spend: mature, unlocked, not excluded, and not task fees (revokeTask spends those). */
  async spendable(source: WalletSource, exclude?: (outpoint: OutPoint) => boolean): Promise<OwnedCoin[]> {
    const height = source.tip().height + 1
    return (await source.coinsOf(this.publicKey)).filter(({ outpoint, coin }) =>
      coin.lock.kind !== 'task-fee' && exclude?.(outpoint) !== true && spendRuleBroken(coin, height, source.params, '') === undefined)
  }

  async balance(source: WalletSource, exclude?: (outpoint: OutPoint) => boolean): Promise<WalletBalance> {
    return balanceOf(await source.coinsOf(this.publicKey), source.tip().height + 1, source.params, exclude)
  }

  /** A signed transfer paying `req.outputs`, change to this key. */
  async createTransfer(source: WalletSource, req: TransferRequest): Promise<TransferTx> {
    const feeRate = req.feeRate ?? DEFAULT_MEMPOOL_POLICY.minFeeRate
    const picked = selectCoins(await this.spendable(source, req.exclude), req.outputs, feeRate, this.publicKey)
    const tx: TransferTx = {
      type: 'transfer',
      inputs: picked.inputs.map((c) => ({ prevout: c.outpoint, signature: new Uint8Array(SIGNATURE_SIZE) })),
      outputs: picked.outputs,
    }
    return signTransfer(tx, picked.inputs.map(() => this.keys.secretKey))
  }

  /** Pays `amount` to `to`. */
  send(source: WalletSource, to: Uint8Array, amount: bigint, opts: Omit<TransferRequest, 'outputs'> = {}): Promise<TransferTx> {
    return this.createTransfer(source, { ...opts, outputs: [payTo(to, amount)] })
  }

  /** PAY_FOR_TASK: locks `fee` to task `taskHash`; this key may revoke it in blocks below `revokeBefore`. */
  payForTask(source: WalletSource, taskHash: Uint8Array, fee: bigint, revokeBefore: number, opts: Omit<TransferRequest, 'outputs'> = {}): Promise<TransferTx> {
    return this.createTransfer(source, { ...opts, outputs: [{ amount: fee, recipient: this.publicKey, lock: { kind: 'task-fee', taskHash, revokeBefore } }] })
  }

  /** BUY_TICKETS: stakes `amount` for `role` (index in SELECTION_ROLES) until height `expiry`. */
  buyTickets(
    source: WalletSource, stake: bigint, lock: Omit<Extract<OutputLock, { kind: 'stake' }>, 'kind'>, opts: Omit<TransferRequest, 'outputs'> = {},
  ): Promise<TransferTx> {
    return this.createTransfer(source, { ...opts, outputs: [{ amount: stake, recipient: this.publicKey, lock: { kind: 'stake', ...lock } }] })
  }

  /**
   * JOIN_TASK: moves this key's ticket at `ticket` to task `taskHash` with `pi`, the proof by the
   * ticket's VRF key over (hash_TDB || role) (protocol selection.ts proveSelection). The
   * transaction fee comes off the stake; the joined stake carries the ticket's role, preferences,
   * expiry, VRF key and purchase height (utxo.ts checkJoin).
   */
  async joinTask(source: WalletSource, ticket: OutPoint, taskHash: Uint8Array, pi: Uint8Array, feeRate = DEFAULT_MEMPOOL_POLICY.minFeeRate): Promise<TransferTx> {
    if (taskHash.length !== 32 || pi.length !== VRF_PROOF_SIZE) {
      throw ledgerError('BAD_LOCK', `a join names a 32-byte task hash and carries a ${VRF_PROOF_SIZE}-byte VRF proof`)
    }
    const key = outpointKey(ticket)
    const own = (await source.coinsOf(this.publicKey)).find((c) => outpointKey(c.outpoint) === key)
    if (own === undefined || own.coin.lock.kind !== 'stake') throw ledgerError('MISSING_INPUT', `no ticket of this wallet at ${key}`, { outpoint: key })
    const { role, preferences, expiry, vrfPublicKey } = own.coin.lock
    const lock: OutputLock = { kind: 'joined', taskHash, role, preferences, expiry, vrfPublicKey, purchaseHeight: own.coin.height, pi }
    const fee = feeRate * BigInt(transferSize(1, [{ amount: 0n, recipient: this.publicKey, lock }]))
    if (own.coin.amount <= fee) throw ledgerError('INSUFFICIENT_FUNDS', `the ticket's stake ${own.coin.amount} does not cover the fee ${fee}`)
    const tx: TransferTx = {
      type: 'transfer', inputs: [{ prevout: ticket, signature: new Uint8Array(SIGNATURE_SIZE) }],
      outputs: [{ amount: own.coin.amount - fee, recipient: this.publicKey, lock }],
    }
    return signTransfer(tx, [this.keys.secretKey])
  }

  /**
   * REVOKE_TASK: spends this key's task fee at `outpoint` back to this key
   * (minus the fee); valid in a block below the lock's revokeBefore, or, if no
   * charge spent the fee, from taskFeeReclaimHeight(revokeBefore) on.
   */
  async revokeTask(source: WalletSource, outpoint: OutPoint, feeRate = DEFAULT_MEMPOOL_POLICY.minFeeRate): Promise<TransferTx> {
    const key = outpointKey(outpoint)
    const own = (await source.coinsOf(this.publicKey)).find((c) => outpointKey(c.outpoint) === key)
    if (own === undefined || own.coin.lock.kind !== 'task-fee') throw ledgerError('MISSING_INPUT', `no task fee of this wallet at ${key}`, { outpoint: key })
    const broken = spendRuleBroken(own.coin, source.tip().height + 1, source.params, key)
    if (broken !== undefined) throw broken
    const fee = feeRate * BigInt(transferSize(1, [payTo(this.publicKey, 0n)]))
    if (own.coin.amount <= fee) throw ledgerError('INSUFFICIENT_FUNDS', `the task fee ${own.coin.amount} does not cover the fee ${fee}`)
    const tx: TransferTx = {
      type: 'transfer', inputs: [{ prevout: outpoint, signature: new Uint8Array(SIGNATURE_SIZE) }],
      outputs: [payTo(this.publicKey, own.coin.amount - fee)],
    }
    return signTransfer(tx, [this.keys.secretKey])
  }
}
