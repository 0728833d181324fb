import type { BlockTiming, DifficultyParams } from '@pouw/protocol'
import type { Fault, IterationResult } from './miner.js'

/**
 * The one typed API between the page and its training Web Worker
 * (comlink). The page imports these types only (`import type`).
 *
 * The page drives the loop (paper 003 §4.3): it applies the supervisors'
 * epoch records with startEpoch(), calls step() while batches are left, and
 * waits for the next record otherwise (the epoch barrier). Calls that change
 * the miner (startEpoch, step, evaluateTest) run one at a time in the
 * worker; receivePeerMessage may come at any moment.
 */
export interface TipInfo {
  hashHex: string
  height: number
  nextBits: number
  /** the chain's whole block subsidy (decimal); what a block on this tip may claim follows from it (chainTipFromInfo) */
  subsidy: string
  /** time and bits of the tip and its last ancestors, the tip last (ChainTip.window) */
  window?: BlockTiming[]
  /**
   * the relay's block template for this tip (GET /api/template): transfers (txToBytes, hex), their
   * fees (decimal), the verifiers' approvals of this tip (revealToBytes, hex: the coinbase's
   * COLLECT_VERIFICATIONS) and the subsidy they prove, which replaces `subsidy`, and the
   * supervisors' latest MESSAGE_HISTORY anchor (historyAnchorToBytes, hex) for the coinbase
   */
  template?: { txs: string[]; fees: string; approvals: string[]; subsidy: string; history: string | null }
}

export interface BackendMeasurement { backend: string; samplesPerSec: number | null; note?: string }
export interface BackendChoice { name: string; reason: string; measurements: BackendMeasurement[] }

export interface TrainerInit {
  /** taskToBytes of the task (the relay's `task.spec`) */
  taskBytes: Uint8Array
  /** the task's 32-byte data seed (train/test split, batches, assignment) */
  seed: Uint8Array
  /**
   * The dataset's fragments d_1..d_p in fragment order (transfer their
   * buffers). The worker checks each against the task's fragment hashes and
   * refuses to train on a mismatch.
   */
  fragments: Uint8Array[]
  /** where the tfjs wasm binaries are served, e.g. '/tfjs-wasm/' */
  wasmBaseUrl: string
  fault: Fault
  tip: TipInfo
  /** force a backend instead of measuring (tests, benchmarks) */
  backend?: string
  /**
   * Keep the miner key in IndexedDB so that a reload keeps the identity
   * (default false). Off by default: the Miner starts again at iteration 0
   * with a fresh model, so a reloaded identity would sign a second, different
   * IT_RES for iterations it already announced, which peers and verifiers
   * refuse as POUW_EQUIVOCATION. Safe once the miner's state survives a reload.
   */
  persistKey?: boolean
  /**
   * Who the block rewards pay (hex Ed25519 public key): the page's wallet key, which, unlike the
   * miner key, always survives a reload. Default: the miner key.
   */
  payTo?: string
  /**
   * The network's difficulty adjustment (ledger DifficultyParams, from the relay's status): the
   * miner computes the bits after its own blocks with it. Absent: the bits never change.
   */
  difficulty?: DifficultyParams
}

export interface TrainerInfo {
  minerId: string // hex Ed25519 public key
  backend: BackendChoice
  paramCount: number
  /** m: mini-batches per epoch over all miners */
  batchCount: number
  /** records of the test set */
  testCount: number
  /** whether the miner key came from (or went to) IndexedDB, rather than living only as long as the tab */
  keyPersisted: boolean
}

export interface EpochStart {
  epoch: number
  /** this miner's batches in the epoch (0 when it is not a member) */
  batchesLeft: number
  member: boolean
}

/** A peer's IT_RES handed to the miner: `code` (a PouwError code) says why it was refused. */
export interface PeerMessageResult { accepted: boolean; code?: string }

/** One iteration as the page sees it: the miner's result, the block's hash as hex, and what is left. */
export interface StepResult extends Omit<IterationResult, 'block' | 'timings'> {
  /** batches left in the epoch after this one */
  batchesLeft: number
  ms: number
  /** a block found: its hash, its parent's, and what the miner computed for a block on top of it (IterationResult.block) */
  block?: {
    hashHex: string; height: number; submission: Uint8Array; parentHex: string; next: { nextBits: number; window?: BlockTiming[] } | null
    reward: bigint; collected: number
  }
}

export interface TestEvaluation {
  accuracy: number
  loss: number
  /** test records evaluated */
  count: number
  /** the miner's epoch and next iteration when the parameters were taken */
  epoch: number
  iteration: number
}

export interface TrainerApi {
  init(init: TrainerInit): Promise<TrainerInfo>
  /** Apply an epoch record (verified by the page): members as hex public keys. Ignored if not newer. */
  startEpoch(epoch: number, minersHex: string[]): Promise<EpochStart>
  /** Never throws for a bad message: refusals come back as `{ accepted: false, code }`. */
  receivePeerMessage(bytes: Uint8Array): Promise<PeerMessageResult>
  /** One iteration on the next assigned batch; throws POUW_BATCH_NOT_ASSIGNED when none is left. */
  step(): Promise<StepResult>
  /** Forward pass over the test set, in chunks. */
  evaluateTest(): Promise<TestEvaluation>
  /** The signed TASK_JOIN (epochMessageToBytes) for `time` (unix seconds), to gossip on the epochs topic. */
  joinMessage(time: number): Promise<Uint8Array>
  setTip(tip: TipInfo): void
}
