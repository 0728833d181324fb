/**
 * The volunteer page's state and wiring: the relay's status over HTTP, the
 * libp2p node (main thread: WebRTC is not available in workers), and the
 * training worker (comlink). Gossips each IT_RES and found block, and
 * follows the verifiers' signed verdicts.
 */
import * as Comlink from 'comlink'
import { useCallback, useEffect, useRef, useState } from 'react'
import { TOPICS, bytesEqual, fromHex, toHex, verdictFromBytes, verifyVerdictSignature } from '@pouw/protocol'
import type { BackendChoice, Fault, TipInfo, TrainerApi, TrainerEvent } from '@pouw/trainer'
import { createBrowserNetwork, type PubSubNetwork } from './p2p.js'

export type { BackendChoice } from '@pouw/trainer'

export interface BlockRecord { hash: string; iteration: number; verdict: 'pending' | 'accepted' | 'rejected'; reason?: string; height?: number }

export interface VolunteerView {
  status: 'connecting' | 'idle' | 'selecting-backend' | 'training' | 'stopping' | 'error'
  backend: BackendChoice | null
  relay: { connected: boolean; peerId: string | null; addr: string | null }
  minerId: string | null
  fault: string | null
  iterations: number
  itersPerSec: number
  samplesPerSec: number
  epoch: number
  lossCurve: { iteration: number; loss: number; accuracy: number }[]
  lossAvg: number | null
  accuracyAvg: number | null
  blocks: { found: number; accepted: number; rejected: number; recent: BlockRecord[] }
  chain: { height: number; tipHash: string } | null
  error: string | null
}

interface RelayStatus {
  height: number
  hash: string
  relay: { peerId: string; addrs: string[]; verifier: string }
  chain: { nextBits: number; subsidy: string }
  task: { spec: string; topic: string; batchSize: number }
}

const CURVE_MAX = 2000
const AVG_WINDOW = 20

const INITIAL_VIEW: VolunteerView = {
  status: 'connecting', backend: null, relay: { connected: false, peerId: null, addr: null }, minerId: null, fault: null,
  iterations: 0, itersPerSec: 0, samplesPerSec: 0, epoch: 0, lossCurve: [], lossAvg: null, accuracyAvg: null,
  blocks: { found: 0, accepted: 0, rejected: 0, recent: [] }, chain: null, error: null,
}

async function fetchStatus(): Promise<RelayStatus> {
  const res = await fetch('/api/status', { cache: 'no-store' })
  if (!res.ok) throw new Error(`relay status: HTTP ${res.status}`)
  return (await res.json()) as RelayStatus
}

function faultFromUrl(): Fault {
  const f = new URLSearchParams(location.search).get('fault')
  return (f ?? 'none') as Fault
}

export function useVolunteer(): { view: VolunteerView; start(): void; stop(): void } {
  const [view, setView] = useState<VolunteerView>(INITIAL_VIEW)
  const net = useRef<PubSubNetwork | null>(null)
  const status = useRef<RelayStatus | null>(null)
  const tip = useRef<TipInfo | null>(null)
  const trainer = useRef<Comlink.Remote<TrainerApi> | null>(null)
  // iteration events arrive faster than React should render: buffer and flush on a timer
  const pending = useRef<{ curve: VolunteerView['lossCurve']; epoch: number; iterations: number }>({ curve: [], epoch: 0, iterations: 0 })
  const rate = useRef<{ t: number; n: number }[]>([])

  /** Follow the heaviest tip we hear of; `force` moves back after our own block was rejected. */
  const updateTip = useCallback((t: TipInfo, force = false) => {
    setView((v) => (v.chain && v.chain.height > t.height && !force ? v : { ...v, chain: { height: t.height, tipHash: t.hashHex } }))
    if (!force && tip.current && (t.height < tip.current.height || (t.height === tip.current.height && t.hashHex !== tip.current.hashHex))) return
    if (tip.current && t.hashHex === tip.current.hashHex) return
    tip.current = t
    void trainer.current?.setTip(t)
  }, [])

  // connect to the relay once
  useEffect(() => {
    let cancelled = false
    let poll: ReturnType<typeof setInterval> | undefined
    const fault = faultFromUrl()
    setView((v) => ({ ...v, fault: fault === 'none' ? null : fault }))
    void (async () => {
      try {
        const s = await fetchStatus()
        status.current = s
        updateTip({ hashHex: s.hash, height: s.height, nextBits: s.chain.nextBits, subsidy: s.chain.subsidy })
        const network = await createBrowserNetwork({ relayAddrs: s.relay.addrs, topics: [s.task.topic, TOPICS.blocks, TOPICS.verdicts] })
        if (cancelled) { await network.stop(); return }
        net.current = network
        const showRelay = (): void => {
          const c = network.connections().find((x) => x.peerId === s.relay.peerId)
          setView((v) => ({ ...v, relay: { connected: c !== undefined, peerId: s.relay.peerId, addr: c?.addr ?? null } }))
        }
        network.onConnectionChange(showRelay)
        showRelay()
        network.onMessage((topic, data) => {
          if (topic !== TOPICS.verdicts) return
          void (async () => {
            const v = verdictFromBytes(data)
            if (!bytesEqual(v.verifier, fromHex(s.relay.verifier)) || !(await verifyVerdictSignature(v))) return
            const hash = toHex(v.blockHash)
            const ours = tip.current?.hashHex === hash && !v.accepted
            updateTip({ hashHex: toHex(v.tipHash), height: v.tipHeight, nextBits: v.nextBits, subsidy: s.chain.subsidy }, ours)
            setView((view) => {
              const rec = view.blocks.recent.find((b) => b.hash === hash)
              if (!rec || rec.verdict !== 'pending') return view
              const updated: BlockRecord = { ...rec, verdict: v.accepted ? 'accepted' : 'rejected', reason: v.accepted ? undefined : v.code, height: v.accepted ? v.height : undefined }
              return {
                ...view,
                blocks: {
                  ...view.blocks,
                  accepted: view.blocks.accepted + (v.accepted ? 1 : 0),
                  rejected: view.blocks.rejected + (v.accepted ? 0 : 1),
                  recent: view.blocks.recent.map((b) => (b.hash === hash ? updated : b)),
                },
              }
            })
          })().catch(() => { /* a malformed verdict is ignored */ })
        })
        // the verdict gossip is the fast path; polling the status keeps the tip right if one is missed
        poll = setInterval(() => {
          fetchStatus().then((st) => updateTip({ hashHex: st.hash, height: st.height, nextBits: st.chain.nextBits, subsidy: st.chain.subsidy })).catch(() => {})
        }, 3000)
        setView((v) => ({ ...v, status: 'idle' }))
      } catch (e) {
        setView((v) => ({ ...v, status: 'error', error: `cannot reach the relay: ${(e as Error).message}` }))
      }
    })()
    return () => { cancelled = true; if (poll) clearInterval(poll); void net.current?.stop() }
  }, [updateTip])

  // flush buffered iteration stats to the view
  useEffect(() => {
    const timer = setInterval(() => {
      const p = pending.current
      if (p.curve.length === 0) return
      const now = performance.now()
      rate.current.push({ t: now, n: p.iterations })
      while (rate.current.length > 2 && now - rate.current[0]!.t > 5000) rate.current.shift()
      const first = rate.current[0]!
      const itersPerSec = rate.current.length > 1 ? ((p.iterations - first.n) * 1000) / (now - first.t) : 0
      const batch = status.current?.task.batchSize ?? 0
      const curve = p.curve
      p.curve = []
      setView((v) => {
        const lossCurve = v.lossCurve.concat(curve).slice(-CURVE_MAX)
        const recent = lossCurve.slice(-AVG_WINDOW)
        return {
          ...v, lossCurve, iterations: p.iterations, epoch: p.epoch, itersPerSec, samplesPerSec: itersPerSec * batch,
          lossAvg: recent.reduce((s, x) => s + x.loss, 0) / recent.length,
          accuracyAvg: recent.reduce((s, x) => s + x.accuracy, 0) / recent.length,
        }
      })
    }, 250)
    return () => clearInterval(timer)
  }, [])

  const onEvent = useCallback((e: TrainerEvent) => {
    const network = net.current
    const s = status.current
    if (e.type === 'iteration') {
      pending.current.curve.push({ iteration: e.iteration, loss: e.loss, accuracy: e.accuracy })
      pending.current.iterations = e.iteration + 1
      pending.current.epoch = e.epoch
      if (network && s) void network.publish(s.task.topic, e.itres).catch(() => {})
    } else if (e.type === 'block') {
      // the miner already builds on its own block; follow it until a verdict says otherwise
      if (tip.current) tip.current = { ...tip.current, hashHex: e.hashHex, height: e.height }
      setView((v) => ({
        ...v,
        blocks: { ...v.blocks, found: v.blocks.found + 1, recent: [{ hash: e.hashHex, iteration: e.iteration, verdict: 'pending' as const }, ...v.blocks.recent].slice(0, 50) },
      }))
      if (network) void network.publish(TOPICS.blocks, e.submission).catch((err: Error) => setView((v) => ({ ...v, error: `could not send block: ${err.message}` })))
    } else {
      setView((v) => ({ ...v, status: 'error', error: `${e.code}: ${e.message}` }))
    }
  }, [])

  const start = useCallback(() => {
    void (async () => {
      const s = status.current
      if (!s || !tip.current) return
      try {
        if (!trainer.current) {
          setView((v) => ({ ...v, status: 'selecting-backend' }))
          const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' })
          const remote = Comlink.wrap<TrainerApi>(worker)
          const forced = new URLSearchParams(location.search).get('backend') ?? undefined
          const r = await remote.init({
            taskSpecHex: s.task.spec, dataBaseUrl: '/data/mnist/', wasmBaseUrl: '/tfjs-wasm/', fault: faultFromUrl(), tip: tip.current, backend: forced,
          }, Comlink.proxy(onEvent))
          trainer.current = remote
          await remote.setTip(tip.current)
          setView((v) => ({ ...v, backend: r.backend, minerId: r.minerId }))
        }
        setView((v) => ({ ...v, status: 'training', error: null }))
        await trainer.current.start()
        setView((v) => (v.status === 'error' ? v : { ...v, status: 'idle' }))
      } catch (e) {
        setView((v) => ({ ...v, status: 'error', error: (e as Error).message }))
      }
    })()
  }, [onEvent])

  const stop = useCallback(() => {
    setView((v) => ({ ...v, status: 'stopping' }))
    void trainer.current?.stop()
  }, [])

  return { view, start, stop }
}
