import assert from 'node:assert/strict'
import { it } from 'node:test'
import type { KeyValueStore } from '../src/index.js'

export interface StoreFactory {
  /** a fresh, empty store */
  create(): Promise<KeyValueStore>
  /** closes `store` and opens the same data again (persistent stores only) */
  reopen?(store: KeyValueStore): Promise<KeyValueStore>
}

const bytes = (...v: number[]): Uint8Array => new Uint8Array(v)

async function collect(it: AsyncIterable<[string, Uint8Array]>): Promise<[string, Uint8Array][]> {
  const out: [string, Uint8Array][] = []
  for await (const e of it) out.push(e)
  return out
}

/** The contract every KeyValueStore implementation passes. Call inside a describe(). */
export function storeCompliance(factory: StoreFactory): void {
  async function withStore(fn: (s: KeyValueStore) => Promise<void>): Promise<void> {
    const s = await factory.create()
    try { await fn(s) } finally { await s.close() }
  }

  it('get of a missing key is undefined', () => withStore(async (s) => {
    assert.equal(await s.get('nope'), undefined)
  }))

  it('put, overwrite and del, as plain Uint8Arrays', () => withStore(async (s) => {
    await s.batch([{ type: 'put', key: 'a', value: bytes(1, 2, 3) }])
    assert.deepEqual(await s.get('a'), bytes(1, 2, 3))
    await s.batch([{ type: 'put', key: 'a', value: bytes(4) }, { type: 'put', key: 'empty', value: bytes() }])
    assert.deepEqual(await s.get('a'), bytes(4))
    assert.deepEqual(await s.get('empty'), bytes())
    await s.batch([{ type: 'del', key: 'a' }, { type: 'del', key: 'never' }])
    assert.equal(await s.get('a'), undefined)
    await s.batch([])
  }))

  it('applies batch ops in order', () => withStore(async (s) => {
    await s.batch([
      { type: 'put', key: 'x', value: bytes(1) }, { type: 'del', key: 'x' },
      { type: 'del', key: 'y' }, { type: 'put', key: 'y', value: bytes(2) },
      { type: 'put', key: 'z', value: bytes(3) }, { type: 'put', key: 'z', value: bytes(4) },
    ])
    assert.equal(await s.get('x'), undefined)
    assert.deepEqual(await s.get('y'), bytes(2))
    assert.deepEqual(await s.get('z'), bytes(4))
  }))

  it('keeps its own copies of values', () => withStore(async (s) => {
    const v = bytes(1, 2)
    await s.batch([{ type: 'put', key: 'k', value: v }])
    v[0] = 9
    const got = (await s.get('k'))!
    got[1] = 9
    assert.deepEqual(await s.get('k'), bytes(1, 2))
  }))

  it('iterates a prefix in key order, reversed and limited', () => withStore(async (s) => {
    const keys = ['a', 'a/', 'a/1', 'a/2', 'a/10', 'a0', 'b/1', '`']
    await s.batch(keys.map((key, i) => ({ type: 'put', key, value: bytes(i) })))
    const names = async (prefix: string, opts?: { reverse?: boolean; limit?: number; gte?: string; lte?: string }) =>
      (await collect(s.iterate(prefix, opts))).map(([k]) => k)
    assert.deepEqual(await names('a/'), ['a/', 'a/1', 'a/10', 'a/2'])
    assert.deepEqual(await names('a/', { reverse: true }), ['a/2', 'a/10', 'a/1', 'a/'])
    assert.deepEqual(await names('a/', { reverse: true, limit: 2 }), ['a/2', 'a/10'])
    assert.deepEqual(await names('a/', { limit: 1 }), ['a/'])
    assert.deepEqual(await names('a/', { limit: 0 }), [])
    assert.deepEqual(await names('c'), [])
    // bounds within the prefix, with order and limit
    assert.deepEqual(await names('a/', { gte: 'a/10' }), ['a/10', 'a/2'])
    assert.deepEqual(await names('a/', { lte: 'a/10' }), ['a/', 'a/1', 'a/10'])
    assert.deepEqual(await names('a/', { gte: 'a/1', lte: 'a/10' }), ['a/1', 'a/10'])
    assert.deepEqual(await names('a/', { lte: 'a/10', reverse: true, limit: 2 }), ['a/10', 'a/1'])
    assert.deepEqual(await names('a/', { gte: 'a0' }), [])
    assert.deepEqual(await names('a/', { lte: 'a' }), [])
    assert.deepEqual(await names('a/', { lte: 'z' }), ['a/', 'a/1', 'a/10', 'a/2'])
    assert.deepEqual(await names(''), [...keys].sort())
    const [[, value]] = await collect(s.iterate('b/'))
    assert.deepEqual(value, bytes(6))
  }))

  it('stopping an iteration early leaves the store usable', () => withStore(async (s) => {
    await s.batch([1, 2, 3].map((i) => ({ type: 'put', key: `k${i}`, value: bytes(i) })))
    for await (const [k] of s.iterate('k')) { assert.equal(k, 'k1'); break }
    await s.batch([{ type: 'del', key: 'k1' }])
    assert.deepEqual((await collect(s.iterate('k'))).map(([k]) => k), ['k2', 'k3'])
  }))

  it('rejects use after close', async () => {
    const s = await factory.create()
    await s.close()
    await assert.rejects(s.get('a'))
    await assert.rejects(s.batch([{ type: 'put', key: 'a', value: bytes(1) }]))
  })

  if (factory.reopen !== undefined) {
    const reopen = factory.reopen
    it('keeps its data across close and reopen', async () => {
      const s = await factory.create()
      await s.batch([{ type: 'put', key: 'p/1', value: bytes(1) }, { type: 'put', key: 'p/2', value: bytes(2) }])
      await s.batch([{ type: 'del', key: 'p/1' }])
      const again = await reopen(s)
      try {
        assert.deepEqual(await collect(again.iterate('p/')), [['p/2', bytes(2)]])
      } finally {
        await again.close()
      }
    })
  }
}
