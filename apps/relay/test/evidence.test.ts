// Run: node --import ./scripts/node-polyfills.mjs --import tsx --test --test-force-exit apps/relay/test/evidence.test.ts
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MemoryStore } from '@pouw/ledger'
import { evidenceKey, pruneEvidence } from '../src/evidence.js'

const hash = (n: number): string => n.toString(16).padStart(64, '0')

describe('evidence kept for the last heights only', () => {
  it('deletes every block\'s evidence below the kept heights, side branches\' included, and nothing else', async () => {
    const store = new MemoryStore()
    const put = (height: number, n: number): Promise<void> => store.batch([{ type: 'put', key: evidenceKey(height, hash(n)), value: new Uint8Array(8) }])
    for (let h = 1; h <= 12; h++) await put(h, h)
    await put(5, 0xff) // a side branch's block at height 5
    await put(10, 0xfe)
    await store.batch([{ type: 'put', key: 'relay/info/x', value: new Uint8Array(1) }, { type: 'put', key: 'relay/evidencf', value: new Uint8Array(1) }])
    assert.equal(await pruneEvidence(store, 12, 100), 0, 'nothing below the first kept height yet')
    assert.equal(await pruneEvidence(store, 12, 3), 10, 'heights 1..9: nine blocks and height 5\'s sibling; heights 10..12 stay')
    const left: string[] = []
    for await (const [key] of store.iterate('relay/')) left.push(key)
    assert.deepEqual(left, [evidenceKey(10, hash(10)), evidenceKey(10, hash(0xfe)), evidenceKey(11, hash(11)), evidenceKey(12, hash(12)), 'relay/evidencf', 'relay/info/x'].sort())
    assert.equal(await pruneEvidence(store, 12, 3), 0, 'a second sweep finds nothing')
  })
})
