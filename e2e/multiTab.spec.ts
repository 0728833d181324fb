import { expect, getStatus, startRelayMesh, test, waitFor, type Testnet } from './testnet'
import { allLinked, openTab, rows, type Tab } from './tabs'

/**
 * Many tabs train one model together (issue 3): three relays, each a supervisor of a 3-member
 * committee (their DKG makes one group key), and four tabs spread over them. Epoch 0 starts once
 * all four joined. The tabs link to each other over WebRTC, exchange their updates every
 * iteration, train their assigned batches for the task's epochs and measure the test accuracy;
 * each block they mine is verified by the two relays its hash chooses (each re-runs the lucky
 * iteration and gossips a signed verdict) and taken by the third on their verdicts, and all relays
 * end with the same chain and the same message-history slots.
 *
 * Sizing: MNIST has 892 training batches an epoch, so each of 4 tabs trains 223 per epoch.
 * Difficulty: a tab tries 118 nonces an iteration, so 20,000 expected hashes per block is one
 * block every ~170 tab iterations: about fifteen blocks over the run, each verified by two relays (chosen from its hash) and taken by the third on their verdicts.
 */
const RELAYS = 3
const TABS = 4
/** three epochs: two reached 95.1-96.1% in most CI runs and 94.8% in one, too close to the bar */
const EPOCHS = Number(process.env.POUW_E2E_EPOCHS ?? 3)
const DIFFICULTY = '20000'
const TARGET_ACCURACY = 0.95
const VERIFIERS = 2

interface Confirmation { verifier: string; accepted: boolean; code: string }
interface BlockInfo {
  height: number; hash: string; miner: string | null; confirmations?: Confirmation[]; takenOn?: string[]; reward?: string; collected?: string[]
  anchored?: { slot: number; hash: string }
}
interface SupervisorsStatus { committee: string[]; t: number; groupPublicKey: string | null; dkg: string; me: string }
interface HistorySlot { slot: number; epoch: number; hash: string; messages: number }

const json = async <T>(url: string): Promise<T> => {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) })
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`)
  return (await res.json()) as T
}
const supervisors = async (r: Testnet): Promise<SupervisorsStatus> => (await getStatus(r.url)).supervisors as SupervisorsStatus
const blocks = (r: Testnet): Promise<BlockInfo[]> => json<BlockInfo[]>(`${r.url}/api/blocks?limit=200`)
const history = (r: Testnet): Promise<HistorySlot[]> => json<HistorySlot[]>(`${r.url}/api/history?from=0`)

test('@multi-tab 3 relays and 4 tabs train MNIST together over WebRTC; every relay verifies and agrees', async ({ browser, testnet }, testInfo) => {
  // Gossip loses 30-90% of the IT_RES on a 2-core machine, where relay event loops stall for up to
  // 30 s: HTTP re-delivery, the blocks' evidence and the relays' verdict sync make it up; tabs mine on
  // each other's blocks before any verdict (tipFollower.ts), so blocks of every tab reach the chain.
  test.setTimeout(30 * 60_000)
  const relays = await startRelayMesh(testnet, RELAYS, {
    env: {
      POUW_SUPERVISORS: String(RELAYS), POUW_MIN_MINERS: String(TABS), POUW_JOIN_GRACE_MS: '3000',
      POUW_EPOCHS: String(EPOCHS), POUW_DIFFICULTY: DIFFICULTY,
      // two verifiers per block, chosen from its hash (§5.2): the third relay takes it on their verdicts
      POUW_VERIFIERS: String(VERIFIERS),
    },
  })

  await test.step('the relays form one committee and agree on a group key', async () => {
    const keys = await waitFor(async () => {
      const s = await Promise.all(relays.map(supervisors))
      return s.every((x) => x.dkg === 'done') ? s : null
    }, { timeoutMs: 120_000, message: 'the DKG to finish on every relay' })
    expect(new Set(keys.map((k) => k.groupPublicKey)).size).toBe(1)
    expect(keys[0]!.committee).toHaveLength(RELAYS)
    expect(new Set(keys.map((k) => k.me))).toEqual(new Set(keys[0]!.committee))
  })

  const tabs: Tab[] = []
  const started = Date.now()
  // progress every 15 s, for the report and for diagnosing a slow or stuck run
  const progress = setInterval(() => {
    void (async () => {
      const rs = await Promise.all(relays.map((r) => getStatus(r.url)))
      const its = await Promise.all(tabs.map((t) => t.page.getByTestId('iterations').first().textContent().catch(() => '?')))
      console.log(`[multi-tab] +${Math.round((Date.now() - started) / 1000)} s: tab iterations ${its.join('/')}; relays ` +
        rs.map((s) => `h${s.height} itres ${(s.stats as { itres: number }).itres} (${(s.stats as { itresRedelivered: number }).itresRedelivered} over HTTP) slots ${(s.supervisors as { history: { slots: number; unslotted: number } }).history.slots}` +
          `+${(s.supervisors as { history: { unslotted: number } }).history.unslotted} epoch ${(s.epoch as { current: number | null }).current}`).join(' | '))
    })().catch(() => {})
  }, 15_000)
  try {
    for (let i = 0; i < TABS; i++) {
      tabs.push(await openTab(() => browser.newContext(), `tab${i}`, `${relays[i % RELAYS]!.url}?backend=wasm`, ''))
    }
    for (const t of tabs) await t.page.getByTestId('start').click()

    await test.step('tab-to-tab connections are direct WebRTC', async () => {
      await waitFor(() => allLinked(tabs), { timeoutMs: 120_000, intervalMs: 500, message: 'a WebRTC conn-row for every pair of tabs' })
      for (const t of tabs) {
        // a relayed ('circuit') connection may linger from the signalling; the data path is the WebRTC one
        const r = await rows(t)
        for (const o of tabs.filter((x) => x !== t)) {
          expect(r.some((x) => x.peer === o.peerId && x.transport === 'webrtc' && !x.relay), `${t.name} has a direct WebRTC link to ${o.name}: ${JSON.stringify(r)}`).toBe(true)
        }
      }
    })

    await test.step('all four tabs are members of epoch 0', async () => {
      for (const t of tabs) await expect(t.page.getByTestId('members')).toHaveText(String(TABS), { timeout: 180_000 })
    })

    const accuracies: number[] = []
    await test.step(`every tab trains ${EPOCHS} epochs and reaches ${TARGET_ACCURACY * 100}% test accuracy`, async () => {
      for (const t of tabs) {
        await expect(t.page.getByTestId('training-state')).toHaveAttribute('data-state', 'done', { timeout: 25 * 60_000 - (Date.now() - started) })
      }
      for (const t of tabs) {
        const raw = await t.page.getByTestId('test-accuracy').getAttribute('data-value')
        const history = await t.page.getByTestId('test-history').textContent()
        const applied = Number(await t.page.getByTestId('peers-applied').textContent())
        accuracies.push(Number(raw))
        console.log(`[multi-tab] ${t.name}: test accuracy ${raw} (by epoch ${history}), peer updates applied ${applied}`)
        expect(applied, `${t.name} applied its peers' updates`).toBeGreaterThan(0)
        expect(Number(raw), `${t.name}'s test accuracy after ${EPOCHS} epochs`).toBeGreaterThanOrEqual(TARGET_ACCURACY)
        await expect(t.page.getByTestId('epoch')).toHaveText(String(EPOCHS - 1))
      }
    })

    await test.step('blocks mined by different tabs are verified by several relays', async () => {
      const chains = await waitFor(async () => {
        const c = await Promise.all(relays.map(blocks))
        return c.every((x) => x[0]!.hash === c[0]![0]!.hash) ? c : null
      }, { timeoutMs: 180_000, message: 'every relay to have the same tip' })
      for (const c of chains.slice(1)) expect(c.map((b) => b.hash)).toEqual(chains[0]!.map((b) => b.hash))
      const mined = chains[0]!.filter((b) => b.height > 0)
      const miners = new Set(mined.map((b) => b.miner))
      console.log(`[multi-tab] chain height ${chains[0]![0]!.height}, ${miners.size} distinct miners`)
      expect(miners.size, 'blocks from different tabs').toBeGreaterThanOrEqual(2)
      const committee = new Set((await supervisors(relays[0]!)).committee)
      // every relay's own record: each block confirmed (accepted) by at least two of the committee's verifiers
      for (const [i, r] of relays.entries()) {
        const confirmed = await waitFor(async () => {
          const bs = (await blocks(r)).filter((b) => b.height > 0)
          const ok = bs.every((b) => (b.confirmations ?? []).filter((c) => c.accepted && committee.has(c.verifier)).length >= 2)
          return ok ? bs : null
        }, { timeoutMs: 180_000, message: `relay ${i} to hold two accepting verdicts on every block` })
        for (const b of confirmed) expect((b.confirmations ?? []).some((c) => !c.accepted), `no verifier rejected ${b.hash}`).toBe(false)
      }
      // each block was re-run by its two chosen verifiers; the third relay took it on their verdicts
      const byRelay = await Promise.all(relays.map(blocks))
      for (const b of mined) {
        const takers = byRelay.filter((list) => list.find((x) => x.hash === b.hash)?.takenOn !== undefined)
        expect(takers.length, `relays that took ${b.hash} on its verifiers' verdicts`).toBe(RELAYS - VERIFIERS)
      }
      // COLLECT_VERIFICATIONS (§5.2): blocks claimed their subsidy with their parents' approvals, by committee members
      const counts = Array.from({ length: VERIFIERS + 1 }, (_, n) => mined.filter((b) => (b.collected ?? []).length === n).length)
      console.log(`[multi-tab] coinbases collecting ${counts.map((_, n) => n).join('/')} parent approvals: ${counts.join('/')}`)
      // each approval a coinbase collected is by a verifier that accepted the parent (its signed verdict is on every relay's record)
      const byHeight = new Map(byRelay[0]!.map((b) => [b.height, b]))
      for (const b of mined) {
        const accepted = new Set((byHeight.get(b.height - 1)?.confirmations ?? []).filter((c) => c.accepted).map((c) => c.verifier))
        for (const v of b.collected ?? []) expect(accepted.has(v), `approval by ${v} in ${b.hash}: not an accepting verifier of its parent`).toBe(true)
      }
      expect(counts[VERIFIERS], 'blocks whose coinbase collected every chosen verifier\'s approval').toBeGreaterThanOrEqual(1)
    })

    await test.step('every relay holds the same message-history slots', async () => {
      const slots = await waitFor(async () => {
        const h = await Promise.all(relays.map(history))
        const same = h.every((x) => x.length === h[0]!.length && x.every((s, j) => s.hash === h[0]![j]!.hash))
        return same && h[0]!.length > 0 ? h : null
      }, { timeoutMs: 60_000, message: 'the same agreed slots on every relay' })
      const messages = slots[0]!.reduce((n, s) => n + s.messages, 0)
      console.log(`[multi-tab] ${slots[0]!.length} history slots holding ${messages} IT_RES`)
      expect(messages).toBeGreaterThanOrEqual(TABS * 100)
      // MESSAGE_HISTORY on chain: blocks' coinbases anchor agreed slots (threshold-signed; the chain checked each), the same the relays hold
      const anchored = (await blocks(relays[0]!)).filter((b) => b.anchored !== undefined)
      console.log(`[multi-tab] ${anchored.length} blocks anchor history slots ${anchored.map((b) => b.anchored!.slot).join(',')}`)
      expect(anchored.length, 'blocks anchoring the message history').toBeGreaterThanOrEqual(1)
      for (const b of anchored) expect(slots[0]!.find((s) => s.slot === b.anchored!.slot)?.hash, `slot ${b.anchored!.slot} anchored by ${b.hash}`).toBe(b.anchored!.hash)
    })

    const report = { epochs: EPOCHS, minutes: (Date.now() - started) / 60_000, accuracies }
    console.log(`[multi-tab] ${JSON.stringify(report)}`)
    await testInfo.attach('multi-tab.json', { body: JSON.stringify(report, null, 2), contentType: 'application/json' })
  } catch (err) {
    for (const t of tabs) console.error(`--- ${t.name} (${t.peerId}) console ---\n${t.logs.slice(-30).join('\n')}`)
    throw err
  } finally {
    clearInterval(progress)
    await Promise.all(tabs.map((t) => t.context.close()))
  }
})
