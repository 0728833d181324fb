import { expect, relayAddrs, startRelayMesh, test, waitFor } from './testnet'
import { addrs, allLinked, openTab, rows, stats, type DebugWindow, type Got, type Tab } from './tabs'

/**
 * WebRTC between tabs (issue: networking layer). Two relays meshed over POUW_PEERS, three tabs
 * spread over them: every pair of tabs links directly over WebRTC (signalled through a relay),
 * gossip on a topic the relays do not carry travels tab to tab, and when a relay dies the tabs on
 * it fail over to the other relay, reserve a slot there, and keep (or re-make) their links.
 */

/** Subscribed by the tabs only: the relays do not forward it, so it can only travel over WebRTC. */
const DIRECT_TOPIC = 'pouw/e2e/direct'
const LINK_TIMEOUT_MS = 90_000
const GOSSIP_TIMEOUT_MS = 30_000
const FAILOVER_TIMEOUT_MS = 60_000

async function listen(tab: Tab): Promise<void> {
  await tab.page.evaluate((topic) => {
    const w = window as DebugWindow
    w.__got = []
    w.__pouw!.network.subscribe(topic)
    w.__pouw!.network.onMessage((t, data, from) => { if (t === topic) w.__got!.push({ text: new TextDecoder().decode(data), from }) })
  }, DIRECT_TOPIC)
}

/**
 * Publishes fresh messages from `from` on DIRECT_TOPIC until one reaches every other tab (a new
 * topic's mesh takes a gossipsub heartbeat to form); checks each came straight from a tab.
 */
async function gossip(from: Tab, tabs: Tab[], label: string): Promise<number> {
  const others = tabs.filter((t) => t !== from)
  const tabIds = new Set(tabs.map((t) => t.peerId))
  const started = Date.now()
  for (let i = 0; ; i++) {
    const text = `${label} #${i} from ${from.name}`
    await from.page.evaluate(([topic, x]) => (window as DebugWindow).__pouw!.network.publish(topic!, new TextEncoder().encode(x)), [DIRECT_TOPIC, text])
    const deadline = Date.now() + 1_500
    let got: Got[][] = []
    while (Date.now() < deadline) {
      got = await Promise.all(others.map((t) => t.page.evaluate((x) => ((window as DebugWindow).__got ?? []).filter((g) => g.text === x), text)))
      if (got.every((g) => g.length > 0)) break
      await new Promise((r) => setTimeout(r, 100))
    }
    if (got.every((g) => g.length > 0)) {
      // `from` is the forwarding peer: another tab (over WebRTC), never a relay
      for (const g of got) for (const m of g) expect(tabIds.has(m.from), `${text} came from ${m.from}, not a tab`).toBe(true)
      return Date.now() - started
    }
    if (Date.now() - started > GOSSIP_TIMEOUT_MS) throw new Error(`${label}: no message from ${from.name} reached all of ${others.map((t) => t.name).join(', ')}`)
  }
}

test('@p2p three tabs on two meshed relays link over WebRTC, gossip tab to tab, and survive a relay dying', async ({ browser, testnet }, testInfo) => {
  test.setTimeout(6 * 60_000)
  const [r0, r1] = await startRelayMesh(testnet, 2)
  const [id0, id1] = await Promise.all([r0!, r1!].map(async (r) => (await relayAddrs(r.url))[0]!.split('/p2p/').pop()!))
  await waitFor(async () => {
    const res = await fetch(`${r0!.url}/api/status`)
    const status = (await res.json()) as { relays?: { peerId: string; url: string | null }[] }
    return status.relays?.some((r) => r.peerId === id1 && r.url !== null)
  }, { timeoutMs: 30_000, message: 'relay 0 to list relay 1 (with its URL) in /api/status relays' })

  const tabs: Tab[] = []
  try {
    const opened = Date.now()
    tabs.push(await openTab(() => browser.newContext(), 'tab0', r0!.url))
    tabs.push(await openTab(() => browser.newContext(), 'tab1', r1!.url))
    tabs.push(await openTab(() => browser.newContext(), 'tab2', r1!.url))
    const [tab0, tab1, tab2] = tabs as [Tab, Tab, Tab]

    await test.step('every pair of tabs has a direct WebRTC connection', async () => {
      await waitFor(() => allLinked(tabs), { timeoutMs: LINK_TIMEOUT_MS, intervalMs: 250, message: 'a WebRTC conn-row for every pair of tabs' })
      const linkedMs = Date.now() - opened
      for (const t of tabs) {
        const r = await rows(t)
        expect(r.some((x) => x.transport === 'websockets' && x.relay), `${t.name} has a websocket link to a relay`).toBe(true)
        expect(Number(await t.page.getByTestId('conn-relay-count').textContent())).toBeGreaterThanOrEqual(1)
        expect((await addrs(t)).some((a) => a.includes('/p2p-circuit/webrtc/p2p/')), `${t.name} has a WebRTC address (a reservation)`).toBe(true)
      }
      const s = await Promise.all(tabs.map(stats))
      const dials = s.reduce((a, x) => ({ attempts: a.attempts + x.dials.attempts, ok: a.ok + x.dials.ok }), { attempts: 0, ok: 0 })
      const report = {
        linkedMs,
        firstDirectMs: s.map((x) => (x.firstDirectAt === null ? null : x.firstDirectAt - x.startedAt)),
        dials: `${dials.ok}/${dials.attempts} ok`,
        dialMs: s.flatMap((x) => x.dialMs),
        errors: s.map((x) => x.dials.lastError).filter(Boolean),
      }
      console.log(`[p2p e2e] links: ${JSON.stringify(report)}`)
      await testInfo.attach('links.json', { body: JSON.stringify(report, null, 2), contentType: 'application/json' })
    })

    await test.step('a message published by one tab reaches the others over WebRTC', async () => {
      for (const t of tabs) await listen(t)
      for (const t of tabs) await gossip(t, tabs, 'before')
    })

    await test.step('relay 1 dies: its tabs fail over to relay 0, reserve there, and keep their links', async () => {
      // before: tab1 and tab2 hold their reservation on their own relay, relay 1
      for (const t of [tab1, tab2]) {
        expect((await stats(t)).reservedOn, `${t.name} reserved on relay 1`).toEqual([id1])
        expect(await t.page.getByTestId('peer-id').textContent()).toBe(id1)
      }
      const killedAt = Date.now()
      await r1!.kill('SIGKILL')
      const moved: Record<string, number> = {}
      for (const t of [tab1, tab2]) {
        await waitFor(async () => {
          const r = await rows(t)
          const onR0 = r.some((x) => x.transport === 'websockets' && x.peer === id0)
          const reserved = (await addrs(t)).some((a) => a.includes(`/p2p/${id0}/p2p-circuit/webrtc/p2p/${t.peerId}`))
          return onR0 && reserved && !r.some((x) => x.peer === id1)
        }, { timeoutMs: FAILOVER_TIMEOUT_MS, intervalMs: 100, message: `${t.name} linked to relay 0 with a reservation there` })
        moved[t.name] = Date.now() - killedAt
        await expect(t.page.getByTestId('relay-status')).toHaveAttribute('data-connected', 'true')
        await expect(t.page.getByTestId('peer-id')).toHaveText(id0)
      }
      await waitFor(() => allLinked(tabs), { timeoutMs: LINK_TIMEOUT_MS, intervalMs: 250, message: 'WebRTC links between every pair after the failover' })
      const relinkedMs = Date.now() - killedAt
      const gossipMs = await gossip(tab1, tabs, 'after')
      await gossip(tab0, tabs, 'after')
      await gossip(tab2, tabs, 'after')
      const report = { reconnectMs: moved, allLinkedMs: relinkedMs, firstGossipAfterMs: gossipMs, reservations: (await Promise.all(tabs.map(stats))).map((s) => s.reservations) }
      console.log(`[p2p e2e] failover: ${JSON.stringify(report)}`)
      await testInfo.attach('failover.json', { body: JSON.stringify(report, null, 2), contentType: 'application/json' })
    })
  } catch (err) {
    for (const t of tabs) console.error(`--- ${t.name} (${t.peerId}) [p2p] console ---\n${t.logs.slice(-40).join('\n')}`)
    throw err
  } finally {
    await Promise.all(tabs.map((t) => t.context.close()))
  }
})
