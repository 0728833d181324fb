import { TopicValidatorResult, type GossipsubMessage, type SubscriptionChangeData } from '@libp2p/gossipsub'
import type { Libp2p } from 'libp2p'
import { ANNOUNCE_TOPIC, announcementFromBytes, announcementToBytes, type Announcement } from './announcement.js'
import type { BaseServices } from './config.js'
import { logError, safeCall } from './util.js'

/** Wait this long after a trigger, so that a burst of triggers sends one announcement. */
const SOON_MS = 300

export interface Announcer {
  /** announce within SOON_MS (coalesced) */
  soon(): void
}

/**
 * Subscribes to ANNOUNCE_TOPIC and publishes `self()` every `intervalMs`, on `soon()`, and when
 * a peer we are connected to joins the topic (before that, an announcement reaches no one).
 * Incoming announcements are judged at gossipsub validation, so that this node forwards only
 * what it believes: malformed ones are rejected (the sender is penalised), ones `believe` refuses
 * are ignored (neither delivered nor forwarded), the others are forwarded and handed to
 * `onAnnouncement` with the peer that forwarded them. Stops with `signal`.
 */
export function startAnnouncer(node: Libp2p<BaseServices>, opts: {
  signal: AbortSignal
  intervalMs: number
  /** what to announce now, or null for nothing (e.g. a tab without a reservation yet) */
  self: () => Omit<Announcement, 'time'> | null
  /** whether to believe (and forward) an announcement that `from` handed us */
  believe: (a: Announcement, from: string) => boolean | Promise<boolean>
  onAnnouncement: (a: Announcement, from: string) => void
}): Announcer {
  const pubsub = node.services.pubsub
  const self = node.peerId.toString()
  pubsub.topicValidators.set(ANNOUNCE_TOPIC, async (peer, msg) => {
    let a: Announcement
    try {
      a = announcementFromBytes(msg.data)
    } catch {
      return TopicValidatorResult.Reject
    }
    try {
      return a.peerId !== self && (await opts.believe(a, peer.toString())) ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore
    } catch (err) {
      logError('announcement check', err)
      return TopicValidatorResult.Ignore
    }
  })
  pubsub.subscribe(ANNOUNCE_TOPIC)

  const listener = (evt: CustomEvent<GossipsubMessage>): void => {
    const { propagationSource, msg } = evt.detail
    if (msg.topic !== ANNOUNCE_TOPIC) return
    // validated and believed already; decoding again is cheap
    safeCall('announcement handler', () => opts.onAnnouncement(announcementFromBytes(msg.data), propagationSource.toString()))
  }
  pubsub.addEventListener('gossipsub:message', listener)
  const onSubscription = (evt: CustomEvent<SubscriptionChangeData>): void => {
    if (evt.detail.subscriptions.some((s) => s.subscribe && s.topic === ANNOUNCE_TOPIC)) soon()
  }
  pubsub.addEventListener('subscription-change', onSubscription)

  let lastTime = 0
  const announce = (): void => {
    if (opts.signal.aborted || node.status !== 'started') return
    const self = opts.self()
    if (self === null) return
    lastTime = Math.max(Date.now(), lastTime + 1) // strictly increasing: a new gossip id each time
    pubsub.publish(ANNOUNCE_TOPIC, announcementToBytes({ ...self, time: lastTime })).catch((err: unknown) => {
      if (!opts.signal.aborted) logError('announce', err)
    })
  }

  let soonTimer: ReturnType<typeof setTimeout> | undefined
  const soon = (): void => {
    if (soonTimer !== undefined || opts.signal.aborted) return
    soonTimer = setTimeout(() => {
      soonTimer = undefined
      announce()
    }, SOON_MS)
  }
  const interval = setInterval(announce, opts.intervalMs)
  opts.signal.addEventListener('abort', () => {
    clearInterval(interval)
    clearTimeout(soonTimer)
    pubsub.removeEventListener('gossipsub:message', listener)
    pubsub.removeEventListener('subscription-change', onSubscription)
  }, { once: true })
  soon()
  return { soon }
}
