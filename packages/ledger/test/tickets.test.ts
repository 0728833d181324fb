import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  DEFAULT_COMMITTEE_PARAMS, PPM, compareCandidates, cosineSimilarity, isqrt, proveSelection, toHex, verifySelection, vrfPublicKey,
  type Role,
} from '@pouw/protocol'
import {
  DEFAULT_OMEGA_PPM, DEFAULT_TICKET_PARAMS, LEDGER_ERRORS, applyForTask, checkApplication, checkBlockTicketCount,
  computeTicketPrice, expiredTicketRefunds, nextTicketPrice, selectCommittee, selectWorkers, spendTicket, ticketExpiryHeight,
  ticketLiveHeight, ticketPoolSize, ticketState, ticketsBought,
  type SelectionParams, type SelectionTask, type Ticket, type TicketApplication, type TicketParams,
} from '../src/index.js'
import { Prng, throwsCode } from '../../protocol/test/helpers.js'

const P: TicketParams = DEFAULT_TICKET_PARAMS

function ticket(prng: Prng, over: Partial<Ticket> = {}): Ticket {
  return {
    id: prng.bytes(32), owner: prng.bytes(32), vrfPublicKey: new Uint8Array(32), role: 'miner',
    preferences: [1, 2, 3, 4], stake: 1_000n + BigInt(prng.int(1_000)), purchaseHeight: prng.int(10_000), ...over,
  }
}

describe('tickets: states by height', () => {
  it('immature, live, expired at the exact boundaries; spent from its participation block', () => {
    const prng = new Prng(1)
    for (let i = 0; i < 200; i++) {
      const params = { ...P, maturity: prng.int(300), expiry: 1 + prng.int(5_000) }
      const t = ticket(prng)
      const live = t.purchaseHeight + params.maturity
      const exp = live + params.expiry
      assert.equal(ticketLiveHeight(t, params), live)
      assert.equal(ticketExpiryHeight(t, params), exp)
      assert.equal(ticketState(t, t.purchaseHeight, params), params.maturity === 0 ? 'live' : 'immature')
      if (params.maturity > 0) assert.equal(ticketState(t, live - 1, params), 'immature')
      assert.equal(ticketState(t, live, params), 'live')
      assert.equal(ticketState(t, exp - 1, params), 'live')
      assert.equal(ticketState(t, exp, params), 'expired')
      assert.equal(ticketState(t, exp + 1_000_000, params), 'expired')
      const h = live + prng.int(params.expiry)
      const spent = spendTicket(t, h, params)
      assert.equal(t.spentHeight, undefined, 'spendTicket does not mutate')
      assert.equal(ticketState(spent, h - 1, params), h - 1 >= live ? 'live' : 'immature')
      assert.equal(ticketState(spent, h, params), 'spent')
      assert.equal(ticketState(spent, exp + 5, params), 'spent')
    }
    assert.throws(() => ticketState({ purchaseHeight: 10 }, 9, P))
  })

  it('only a live ticket can be spent (LEDGER_TICKET_NOT_LIVE)', () => {
    const t = ticket(new Prng(2), { purchaseHeight: 100 })
    throwsCode(() => spendTicket(t, 100 + P.maturity - 1, P), LEDGER_ERRORS.TICKET_NOT_LIVE)
    throwsCode(() => spendTicket(t, ticketExpiryHeight(t, P), P), LEDGER_ERRORS.TICKET_NOT_LIVE)
    const s = spendTicket(t, 100 + P.maturity, P)
    throwsCode(() => spendTicket(s, 100 + P.maturity + 1, P), LEDGER_ERRORS.TICKET_NOT_LIVE)
  })

  it('refunds the stake of each unspent ticket in the block where it expires, in id order', () => {
    const prng = new Prng(3)
    const params = { ...P, maturity: 5, expiry: 20 }
    const tickets = Array.from({ length: 60 }, () => ticket(prng, { purchaseHeight: prng.int(30) }))
    for (const t of tickets.slice(0, 20)) if (prng.bool()) t.spentHeight = t.purchaseHeight + params.maturity + prng.int(params.expiry)
    let refunded = 0n
    for (let h = 0; h < 80; h++) {
      const r = expiredTicketRefunds(tickets, h, params)
      const due = tickets.filter((t) => t.purchaseHeight + 25 === h && t.spentHeight === undefined)
      assert.equal(r.length, due.length)
      for (const p of r) {
        const t = due.find((d) => d.owner === p.recipient)!
        assert.equal(p.amount, t.stake)
        assert.equal(p.reason, 'ticket-expired')
      }
      const ids = due.map((t) => toHex(t.id)).sort()
      assert.deepEqual(r.map((p) => toHex(due.find((d) => d.owner === p.recipient)!.id)), ids)
      refunded += r.reduce((a, p) => a + p.amount, 0n)
    }
    const never = tickets.filter((t) => t.spentHeight === undefined).reduce((a, t) => a + t.stake, 0n)
    assert.equal(refunded, never, 'every unspent stake comes back exactly once')
  })
})

describe('tickets: purchases', () => {
  it('a purchase buys amount / price tickets and must be an exact positive multiple', () => {
    const prng = new Prng(4)
    for (let i = 0; i < 200; i++) {
      const price = 1n + prng.u64() % 1_000_000n
      const n = 1 + prng.int(50)
      assert.equal(ticketsBought(price * BigInt(n), price), n)
      if (price > 1n) throwsCode(() => ticketsBought(price * BigInt(n) + 1n + prng.u64() % (price - 1n), price), LEDGER_ERRORS.BAD_TICKET_PURCHASE)
    }
    throwsCode(() => ticketsBought(0n, 5n), LEDGER_ERRORS.BAD_TICKET_PURCHASE)
    throwsCode(() => ticketsBought(-5n, 5n), LEDGER_ERRORS.BAD_TICKET_PURCHASE)
  })

  it('a block buys at most maxTicketsPerBlock tickets (LEDGER_TOO_MANY_TICKETS)', () => {
    assert.equal(checkBlockTicketCount([], P), 0)
    assert.equal(checkBlockTicketCount([20, 20, 10], P), P.maxTicketsPerBlock)
    throwsCode(() => checkBlockTicketCount([20, 20, 11], P), LEDGER_ERRORS.TOO_MANY_TICKETS)
    throwsCode(() => checkBlockTicketCount([P.maxTicketsPerBlock + 1], P), LEDGER_ERRORS.TOO_MANY_TICKETS)
  })
})

describe('tickets: price (Decred DCP-0001)', () => {
  it('is the minimum for the first window and changes only at multiples of the window', () => {
    const prng = new Prng(5)
    for (let i = 0; i < 300; i++) {
      const h = prng.int(10 * P.priceWindow)
      const cur = P.minPrice + prng.u64() % 10_000_000n
      const got = computeTicketPrice({ height: h, currentPrice: cur, prevPoolSize: 1 + prng.int(50_000), curPoolSize: prng.int(50_000) }, P)
      if (h < P.priceWindow) assert.equal(got, P.minPrice)
      else if (h % P.priceWindow !== 0) assert.equal(got, cur)
    }
  })

  it('stands when the pool is at its target and unchanged, rises with demand, falls without', () => {
    const at = (prev: number, cur: number, price = 5_000_000n): bigint =>
      computeTicketPrice({ height: 10 * P.priceWindow, currentPrice: price, prevPoolSize: prev, curPoolSize: cur }, P)
    const N = P.targetPoolSize
    assert.equal(at(N, N), 5_000_000n)
    assert.ok(at(N, N + 1_000) > 5_000_000n, 'more tickets bought than removed over the window: dearer')
    assert.ok(at(N, N - 1_000) < 5_000_000n, 'fewer: cheaper')
    assert.ok(at(N - 1_000, N - 1_000) < 5_000_000n, 'a steady pool below the target: cheaper (restoring force)')
    assert.ok(at(N + 1_000, N + 1_000) > 5_000_000n, 'a steady pool above the target: dearer')
    assert.equal(at(0, 500), 5_000_000n, 'an empty pool a window ago: the price stands')
    assert.equal(at(N, 1), P.minPrice, 'clamped to the minimum')
    assert.equal(at(1, N, P.maxPrice), P.maxPrice, 'clamped to the maximum')
  })

  it('is floor(current * cur^2 / (prev * target)) within the clamps, and monotone in the pool', () => {
    const prng = new Prng(6)
    for (let i = 0; i < 500; i++) {
      const prev = 1 + prng.int(80_000)
      const cur = prng.int(80_000)
      const price = P.minPrice + prng.u64() % 100_000_000n
      const got = computeTicketPrice({ height: P.priceWindow * (1 + prng.int(100)), currentPrice: price, prevPoolSize: prev, curPoolSize: cur }, P)
      const den = BigInt(prev) * BigInt(P.targetPoolSize)
      const num = price * BigInt(cur) * BigInt(cur)
      if (got > P.minPrice && got < P.maxPrice) assert.ok(got * den <= num && num < (got + 1n) * den, 'floor of the exact product')
      else if (got === P.minPrice) assert.ok(num < (P.minPrice + 1n) * den)
      const more = computeTicketPrice({ height: P.priceWindow, currentPrice: price, prevPoolSize: prev, curPoolSize: cur + 1 }, P)
      assert.ok(more >= got)
    }
  })

  it('nextTicketPrice counts live + immature tickets at the two retarget points', () => {
    const prng = new Prng(7)
    const params = { ...P, maturity: 4, expiry: 30, priceWindow: 10, targetPoolSize: 50 }
    const tickets = Array.from({ length: 200 }, () => ticket(prng, { purchaseHeight: prng.int(100) }))
    for (const t of tickets) if (prng.int(3) === 0) t.spentHeight = t.purchaseHeight + 4 + prng.int(30)
    for (let h = 0; h < 120; h++) {
      const count = (at: number): number => tickets.filter((t) => {
        if (t.purchaseHeight > at) return false
        if (t.spentHeight !== undefined && at >= t.spentHeight) return false
        return at < t.purchaseHeight + 34
      }).length
      if (h >= 10 && h % 10 === 0) {
        assert.equal(ticketPoolSize(tickets, h - 1, params), count(h - 1))
        const want = computeTicketPrice({ height: h, currentPrice: 7_000_000n, prevPoolSize: count(h - 11), curPoolSize: count(h - 1) }, params)
        assert.equal(nextTicketPrice(h, 7_000_000n, tickets, params), want)
      } else {
        assert.equal(nextTicketPrice(h, 7_000_000n, tickets, params), h < 10 ? params.minPrice : 7_000_000n)
      }
    }
  })

  it('steers a simulated market toward the target pool size', () => {
    // Buyers: each block, floor(K / price) tickets (capped), so demand falls as the price rises.
    // Steady state pool = (tickets per block) x (maturity + expiry); the target needs about 4 a block.
    const params: TicketParams = { ...P, maturity: 4, expiry: 96, priceWindow: 20, targetPoolSize: 400, maxTicketsPerBlock: 12, minPrice: 1_000n }
    const prng = new Prng(8)
    for (const K of [40_000n, 200_000n]) {
      const tickets: Ticket[] = []
      let price = params.minPrice
      const pools: number[] = []
      for (let h = 0; h < 6_000; h++) {
        price = nextTicketPrice(h, price, tickets, params)
        const n = Number(K / price) + (prng.int(4) === 0 ? 1 : 0)
        const bought = Math.min(n, params.maxTicketsPerBlock)
        for (let i = 0; i < bought; i++) tickets.push(ticket(prng, { purchaseHeight: h, stake: price }))
        if (h >= 4_000) pools.push(ticketPoolSize(tickets, h, params))
      }
      const avg = pools.reduce((a, b) => a + b, 0) / pools.length
      assert.ok(Math.abs(avg - params.targetPoolSize) < 0.15 * params.targetPoolSize, `K ${K}: mean pool ${avg.toFixed(0)}, target ${params.targetPoolSize}`)
    }
  })
})

// ---- selection ----

const PARAMS: SelectionParams = { omegaPpm: DEFAULT_OMEGA_PPM, committee: DEFAULT_COMMITTEE_PARAMS, tickets: { ...P, maturity: 10, expiry: 1_000 } }

interface Holder { ticket: Ticket; sk: Uint8Array }

function holders(prng: Prng, n: number, role: Role, over: Partial<Ticket> = {}): Holder[] {
  return Array.from({ length: n }, () => {
    const sk = prng.bytes(32)
    const prefs = Array.from({ length: 4 }, () => prng.int(10))
    return { sk, ticket: ticket(prng, { role, vrfPublicKey: vrfPublicKey(sk), preferences: prefs, purchaseHeight: prng.int(50), ...over }) }
  })
}

function task(prng: Prng): SelectionTask {
  // miners' bound: floor(1000 ppm x 6000 kB) = 6 seats
  return { definitionBlockHash: prng.bytes(32), definitionHeight: 100, preferences: [3, 1, 4, 1], committee: { datasetKB: 6_000, expectedTrainingSeconds: 0, fee: 0n } }
}

describe('tickets: worker selection (§4.1)', () => {
  it('applyForTask and checkApplication agree: a worker applies exactly when others will accept it', () => {
    const prng = new Prng(9)
    const t = task(prng)
    let applied = 0
    for (const h of [...holders(prng, 40, 'miner'), ...holders(prng, 20, 'supervisor')]) {
      const app = applyForTask(h.ticket, h.sk, t, PARAMS)
      const forced: TicketApplication = { ticket: h.ticket, pi: proveSelection(h.sk, t.definitionBlockHash, h.ticket.role, h.ticket.owner).pi }
      const check = checkApplication(forced, h.ticket.role, t, PARAMS)
      if (app !== undefined) {
        applied++
        assert.deepEqual(app.pi, forced.pi)
        assert.ok(check.ok)
        assert.equal(check.selected.similarityPpm, cosineSimilarity(h.ticket.preferences, t.preferences))
      } else {
        assert.ok(!check.ok && check.reason === 'below-threshold')
      }
    }
    // with omega_S = 1 a ticket passes with probability = its similarity: most of these do, not all
    assert.ok(applied > 20 && applied < 60, `${applied} of 60 applied`)
  })

  it('rejects applications that break a rule, each with its reason', () => {
    const prng = new Prng(10)
    const t = task(prng)
    const [good] = holders(prng, 1, 'miner', { preferences: [3, 1, 4, 1] }) // similarity 1: always selected
    const app = (h: Holder, role: Role = h.ticket.role): TicketApplication => ({ ticket: h.ticket, pi: proveSelection(h.sk, t.definitionBlockHash, role, h.ticket.owner).pi })
    assert.ok(checkApplication(app(good!), 'miner', t, PARAMS).ok)
    const reason = (a: TicketApplication, role: Role = 'miner'): string => {
      const r = checkApplication(a, role, t, PARAMS)
      return r.ok ? 'ok' : r.reason
    }
    assert.equal(reason(app(good!), 'supervisor'), 'wrong-role')
    const [young] = holders(prng, 1, 'miner', { preferences: [3, 1, 4, 1], purchaseHeight: t.definitionHeight - PARAMS.tickets.maturity + 1 })
    assert.equal(reason(app(young!)), 'not-live')
    const [late] = holders(prng, 1, 'miner', { preferences: [3, 1, 4, 1], purchaseHeight: t.definitionHeight + 1 })
    assert.equal(reason(app(late!)), 'not-live', 'bought after the task')
    const [old] = holders(prng, 1, 'miner', { preferences: [3, 1, 4, 1], purchaseHeight: 0 })
    assert.equal(reason(app(old!)), 'ok')
    const expiresAt = PARAMS.tickets.maturity + PARAMS.tickets.expiry
    assert.equal(checkApplication(app(old!), 'miner', { ...t, definitionHeight: expiresAt - 1 }, PARAMS).ok, true)
    assert.deepEqual(checkApplication(app(old!), 'miner', { ...t, definitionHeight: expiresAt }, PARAMS), { ok: false, reason: 'not-live' }, 'expired')
    assert.equal(reason(app({ ...good!, ticket: { ...good!.ticket, spentHeight: 90 } })), 'not-live', 'spent in an earlier task')
    assert.equal(reason(app({ ...good!, ticket: { ...good!.ticket, preferences: [1, 2, 3] } })), 'bad-preferences')
    const tampered = app(good!)
    tampered.pi = tampered.pi.slice()
    tampered.pi[40]! ^= 1
    assert.equal(reason(tampered), 'invalid-proof')
    assert.equal(reason({ ticket: good!.ticket, pi: proveSelection(good!.sk, t.definitionBlockHash, 'supervisor', good!.ticket.owner).pi }), 'invalid-proof', 'a proof for another role')
    // a copy of someone's VRF key in a ticket of another owner: their proof does not hold for it
    assert.equal(reason({ ticket: { ...good!.ticket, owner: new Uint8Array(32).fill(0xee) }, pi: proveSelection(good!.sk, t.definitionBlockHash, good!.ticket.role, good!.ticket.owner).pi }), 'invalid-proof', 'a copied key and proof')
    const [zero] = holders(prng, 1, 'miner', { preferences: [0, 0, 0, 0] })
    assert.equal(reason(app(zero!)), 'below-threshold', 'similarity 0 never passes')
  })

  it('selects the best-ranked qualified tickets up to the bounds, miners first, then supervisors by |M|', () => {
    for (const seed of [11, 12, 13]) {
      const prng = new Prng(seed)
      const t = task(prng)
      const all = [...holders(prng, 40, 'miner'), ...holders(prng, 25, 'supervisor')]
      const apps = all.map((h) => applyForTask(h.ticket, h.sk, t, PARAMS)).filter((a) => a !== undefined)
      const sel = selectWorkers(apps, t, PARAMS)
      assert.ok(sel.ok)
      const miners = sel.miners.members!
      assert.deepEqual(sel.miners.bounds, { min: 2, max: 6 })
      assert.equal(miners.length, Math.min(6, sel.miners.qualified.length))
      assert.deepEqual(sel.supervisors.bounds, { min: 3, max: Math.max(3, Number(isqrt(miners.length))) })
      for (const c of [sel.miners, sel.supervisors]) {
        const ranked = c.qualified.map((q) => ({ ...q, publicKey: q.ticket.vrfPublicKey }))
        for (let i = 1; i < ranked.length; i++) assert.ok(compareCandidates(ranked[i - 1]!, ranked[i]!) < 0, 'qualified in rank order')
        assert.deepEqual(c.members!.map((m) => toHex(m.ticket.id)), c.qualified.slice(0, c.bounds.max).map((q) => toHex(q.ticket.id)))
        for (const m of c.members!) {
          const v = verifySelection(m.ticket.vrfPublicKey, t.definitionBlockHash, c.role, apps.find((a) => a.ticket === m.ticket)!.pi, m.similarityPpm, PARAMS.omegaPpm[c.role], m.ticket.owner)
          assert.ok(v.selected)
          assert.equal(m.ticket.role, c.role)
        }
        assert.equal(c.rejected.length, 0)
      }
      // the same applications in another order: the same committees
      const shuffled = [...apps].reverse()
      const again = selectWorkers(shuffled, t, PARAMS)
      assert.deepEqual(again.miners.members!.map((m) => toHex(m.ticket.id)), miners.map((m) => toHex(m.ticket.id)))
      assert.deepEqual(again.supervisors.members!.map((m) => toHex(m.ticket.id)), sel.supervisors.members!.map((m) => toHex(m.ticket.id)))
    }
  })

  it('one seat per VRF key, a ticket counts once, and too few applicants mean the task cannot start', () => {
    const prng = new Prng(14)
    const t = task(prng)
    const [h] = holders(prng, 1, 'miner', { preferences: [3, 1, 4, 1] })
    const twin = { ...h!, ticket: { ...h!.ticket, id: prng.bytes(32) } } // a second ticket of the same key
    const apps = [h!, twin].map((x) => applyForTask(x.ticket, x.sk, t, PARAMS)!)
    const c = selectCommittee('miner', [...apps, apps[0]!], t, PARAMS)
    assert.equal(c.members, undefined, 'one key is one miner: fewer than 2')
    assert.equal(c.qualified.length, 1)
    assert.deepEqual(c.rejected.map((r) => r.reason), ['duplicate-ticket'])
    const sups = holders(prng, 2, 'supervisor', { preferences: [3, 1, 4, 1] }).map((x) => applyForTask(x.ticket, x.sk, t, PARAMS)!)
    const [m2] = holders(prng, 1, 'miner', { preferences: [3, 1, 4, 1] })
    const sel = selectWorkers([...apps, applyForTask(m2!.ticket, m2!.sk, t, PARAMS)!, ...sups], t, PARAMS)
    assert.equal(sel.miners.members?.length, 2)
    assert.equal(sel.supervisors.members, undefined, 'two supervisors, three needed')
    assert.equal(sel.ok, false)
  })

  it('a task whose miner bound is below 2 gets no committee', () => {
    const prng = new Prng(15)
    const t = { ...task(prng), committee: { datasetKB: 1_000, expectedTrainingSeconds: 0, fee: 0n } }
    const apps = holders(prng, 10, 'miner', { preferences: [3, 1, 4, 1] }).map((x) => applyForTask(x.ticket, x.sk, t, PARAMS)!)
    const c = selectCommittee('miner', apps, t, PARAMS)
    assert.deepEqual(c.bounds, { min: 2, max: 1 })
    assert.equal(c.members, undefined)
  })

  it('omega_S scales the chance: a higher omega selects fewer tickets, each passing min(1, s / omega)', () => {
    const prng = new Prng(16)
    const t = task(prng)
    const hs = holders(prng, 60, 'miner')
    const count = (omega: number): number => hs.filter((h) => applyForTask(h.ticket, h.sk, t, { ...PARAMS, omegaPpm: { ...PARAMS.omegaPpm, miner: omega } })).length
    const a = count(PPM / 2)
    const b = count(PPM)
    const c = count(4 * PPM)
    assert.ok(a >= b && b >= c && a > c, `${a} >= ${b} >= ${c}`)
  })
})
