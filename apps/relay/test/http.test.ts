// Run: node --import ./scripts/node-polyfills.mjs --import tsx --test --test-force-exit apps/relay/test/http.test.ts
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { describe, it } from 'node:test'
import { handOnToRelays } from '../src/http.js'

/**
 * A relay stand-in on 127.0.0.1 answering each POST with the next status of `statuses` (the last one thereafter),
 * and with `body` as JSON when given (a refusal's { error, code }, as createHttpServer sends)
 */
async function stubRelay(statuses: number[], body?: Record<string, string>): Promise<{ base: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0
  const server: Server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const status = statuses[Math.min(hits++, statuses.length - 1)]!
      if (body === undefined) res.writeHead(status).end()
      else res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const addr = server.address()
  assert.ok(addr !== null && typeof addr === 'object')
  return { base: `http://127.0.0.1:${addr.port}/`, hits: () => hits, close: () => new Promise((resolve) => server.close(() => resolve())) }
}

const until = async (what: string, ok: () => boolean): Promise<void> => {
  for (let i = 0; i < 300 && !ok(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  assert.ok(ok(), what)
}

describe('handOnToRelays', () => {
  it('tries a relay that failed (5xx) again until it takes the body; a refusal (4xx) is not tried again', async () => {
    const down = await stubRelay([503, 503, 200])
    const refusing = await stubRelay([400])
    const logs: string[] = []
    handOnToRelays([down.base, refusing.base], 'api/task/model', Uint8Array.of(1), (msg) => logs.push(msg), { retryMs: [10, 10, 10] })
    await until('three attempts at the relay that was down, the refusal logged', () => down.hits() === 3 && logs.length === 1)
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.deepEqual([down.hits(), refusing.hits()], [3, 1])
    assert.deepEqual(logs, ['not handed on'], 'the refusal is logged; the hand-on that got through is not')
    await Promise.all([down.close(), refusing.close()])
  })

  it('logs a refusal with the code and reason it names, unless that code is a quiet one', async () => {
    const immature = await stubRelay([400], { error: 'coinbase not mature', code: 'LEDGER_IMMATURE_COINBASE' })
    const holding = await stubRelay([400], { error: 'already in the mempool', code: 'LEDGER_MEMPOOL_DUPLICATE' })
    const logs: Record<string, unknown>[] = []
    handOnToRelays([immature.base, holding.base], 'api/tx', Uint8Array.of(1), (_msg, ctx) => logs.push(ctx ?? {}), { quiet: ['LEDGER_MEMPOOL_DUPLICATE'], retryMs: [] })
    await until('both relays asked, the refusal logged', () => immature.hits() === 1 && holding.hits() === 1 && logs.length === 1)
    await new Promise((resolve) => setTimeout(resolve, 100)) // time for the quiet refusal to have been logged, were it not quiet
    assert.deepEqual(logs, [{ route: 'api/tx', relay: immature.base, status: 400, code: 'LEDGER_IMMATURE_COINBASE', error: 'coinbase not mature' }])
    await Promise.all([immature.close(), holding.close()])
  })

  it('gives up after the last delay with a log line, and starts no attempt once the caller stopped', async () => {
    const down = await stubRelay([500])
    const logs: Record<string, unknown>[] = []
    handOnToRelays([down.base], 'r', Uint8Array.of(1), (_msg, ctx) => logs.push(ctx ?? {}), { retryMs: [10, 10] })
    await until('the give-up line', () => logs.length === 1)
    assert.deepEqual([down.hits(), logs[0]!.attempts, logs[0]!.status], [3, 3, 500])
    let active = true
    const stopping = await stubRelay([503])
    handOnToRelays([stopping.base], 'r', Uint8Array.of(1), () => {}, { retryMs: [50, 50], active: () => active })
    await until('the first attempt', () => stopping.hits() === 1)
    active = false
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.equal(stopping.hits(), 1)
    await Promise.all([down.close(), stopping.close()])
  })
})
