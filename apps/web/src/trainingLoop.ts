/**
 * The tab's part in training one model with many miners (paper 003 §4.3):
 * ask to join until an epoch record names this miner (and, while it sends
 * no IT_RES, keep saying it is alive), apply each record,
 * train the batches it assigns, then wait for the next record (the epoch
 * barrier: a miner done early waits for the majority). The test accuracy is
 * measured after each epoch; after the task's last epoch training stops.
 *
 * The loop is the only caller of the worker's startEpoch, step and
 * evaluateTest, so they never overlap; peers' IT_RES go to the worker as
 * they come. No DOM, no network: publishing is injected.
 */
import type { EpochStart, PeerMessageResult, StepResult, TestEvaluation } from '@pouw/trainer'
import type { EpochBook, VerifiedEpoch } from './epochBook.js'

export type TrainingState = 'loading' | 'joining' | 'training' | 'waiting' | 'done' | 'error'

export interface TrainingView {
  state: TrainingState
  /** one line for people: what the tab is doing or waiting for */
  detail: string
  /** the epoch the miner is in (the last record applied) */
  epoch: number | null
  batchesLeft: number | null
  /** miners in that epoch */
  members: number | null
  member: boolean
  /** peers' updates applied, in total */
  peersApplied: number
  /** peers' IT_RES refused, in total, and the last reason */
  peerRejected: number
  lastRejectCode: string | null
  test: (TestEvaluation & { final: boolean }) | null
  testHistory: TestEvaluation[]
}

/** What the loop needs of the worker (Comlink.Remote<TrainerApi> has it). */
export interface LoopTrainer {
  startEpoch(epoch: number, minersHex: string[]): Promise<EpochStart>
  receivePeerMessage(bytes: Uint8Array): Promise<PeerMessageResult>
  step(): Promise<StepResult>
  evaluateTest(): Promise<TestEvaluation>
  joinMessage(time: number): Promise<Uint8Array>
}

export interface TrainingLoopDeps {
  trainer: LoopTrainer
  book: EpochBook
  /** the task's stopping rule: epochs 0 .. epochs - 1 */
  epochs: number
  minerId: string
  publishJoin(bytes: Uint8Array): void
  onStep(r: StepResult): void
  onView(v: TrainingView): void
  now?: () => number
}

export interface TrainingLoop {
  /** Trains until stop(), the last epoch is done ('done') or an error (thrown). */
  run(): Promise<'stopped' | 'done'>
  stop(): void
  /** A peer's IT_RES from the network (any time; never throws). */
  receive(bytes: Uint8Array): void
  view(): TrainingView
}

export const JOIN_INTERVAL_MS = 3000
/** IT_RES from miners of an epoch record we have not applied yet, kept to offer again after it. */
const RETRY_LIMIT = 512
const NOT_MEMBER = 'POUW_NOT_MEMBER'

export function initialTrainingView(): TrainingView {
  return {
    state: 'loading', detail: 'press Start to train', epoch: null, batchesLeft: null, members: null, member: false,
    peersApplied: 0, peerRejected: 0, lastRejectCode: null, test: null, testHistory: [],
  }
}

export function createTrainingLoop(deps: TrainingLoopDeps): TrainingLoop {
  const { trainer, book, epochs, minerId } = deps
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000))
  const view = initialTrainingView()
  let applied = -1 // the last epoch record applied
  let batchesLeft = 0
  let dirty = false // stepped since the last test evaluation
  let retry: Uint8Array[] = []
  let abort: AbortController | null = null
  let finished = false
  let lastStepAt = 0 // Date.now() of the last IT_RES

  const emit = (patch: Partial<TrainingView>): void => {
    Object.assign(view, patch)
    deps.onView({ ...view })
  }
  const named = (e: VerifiedEpoch | null): boolean => e !== null && e.miners.includes(minerId)

  const receive = (bytes: Uint8Array, firstTry: boolean): void => {
    trainer.receivePeerMessage(bytes).then((r) => {
      if (r.accepted || r.code === undefined || r.code === 'TRAINER_NOT_READY') return
      if (r.code === NOT_MEMBER && firstTry) {
        // perhaps a member of a record still on its way to us: offer it again after the next one
        retry.push(bytes)
        if (retry.length > RETRY_LIMIT) retry.shift()
        return
      }
      emit({ peerRejected: view.peerRejected + 1, lastRejectCode: r.code })
    }).catch(() => { /* the worker is gone */ })
  }

  /**
   * Until a record names this miner, a join asks to be admitted. After that it
   * keeps saying the miner is alive while it sends no IT_RES (waiting at the
   * barrier, measuring the test set): supervisors count a miner as live only
   * for a while after its last join or IT_RES, and propose the next epoch's
   * members from the live ones.
   */
  const join = (): void => {
    if (finished) return
    if (named(book.latest) && Date.now() - lastStepAt < JOIN_INTERVAL_MS) return
    trainer.joinMessage(now()).then(deps.publishJoin).catch(() => {})
  }

  const evaluate = async (final: boolean): Promise<void> => {
    emit({ detail: `measuring the test accuracy after epoch ${applied}` })
    const e = await trainer.evaluateTest()
    dirty = false
    emit({ test: { ...e, final }, testHistory: [...view.testHistory, e] })
  }

  const enter = async (record: VerifiedEpoch): Promise<void> => {
    if (dirty) await evaluate(false) // the epoch ended for us before our batches did
    const r = await trainer.startEpoch(record.epoch, record.miners)
    applied = record.epoch
    batchesLeft = r.batchesLeft
    emit({ epoch: applied, batchesLeft, members: record.miners.length, member: r.member })
    const again = retry
    retry = []
    for (const b of again) receive(b, false)
  }

  return {
    view: () => ({ ...view }),
    receive: (bytes) => receive(bytes, true),
    stop() { abort?.abort() },

    async run() {
      if (abort !== null) throw new Error('the training loop is already running')
      if (finished) return 'done'
      const ctl = new AbortController()
      abort = ctl
      join()
      const joinTimer = setInterval(join, JOIN_INTERVAL_MS)
      try {
        while (!ctl.signal.aborted) {
          const latest = book.latest
          if (latest !== null && latest.epoch > applied) { await enter(latest); continue }
          if (batchesLeft > 0) {
            const detail = `training epoch ${applied}`
            if (view.state !== 'training' || view.detail !== detail) emit({ state: 'training', detail })
            const r = await trainer.step()
            batchesLeft = r.batchesLeft
            dirty = true
            lastStepAt = Date.now()
            emit({ batchesLeft, peersApplied: view.peersApplied + r.peersApplied })
            deps.onStep(r)
            continue
          }
          if (applied === epochs - 1) {
            if (dirty || view.test === null) await evaluate(true)
            else emit({ test: { ...view.test, final: true } })
            finished = true
            emit({
              state: 'done',
              detail: view.member ? `trained all ${epochs} epoch${epochs === 1 ? '' : 's'}` : `the last epoch (${applied}) started without this miner`,
            })
            return 'done'
          }
          if (dirty) { await evaluate(false); continue }
          if (named(latest)) emit({ state: 'waiting', detail: `done with epoch ${applied}: waiting for the others (the next epoch record)` })
          else emit({ state: 'joining', detail: book.hasGroupKey ? 'asking to join: waiting for an epoch record that names this miner' : 'asking to join: waiting for the supervisors\' group key' })
          await book.waitForNewer(applied, ctl.signal)
        }
        emit({ detail: 'stopped: press Start to go on' })
        return 'stopped'
      } finally {
        clearInterval(joinTimer)
        abort = null
      }
    },
  }
}
