import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { LevelStore, MemoryStore, type KeyValueStore } from '../src/index.js'
import { storeCompliance } from './storeCompliance.js'

const root = mkdtempSync(join(tmpdir(), 'pouw-ledger-store-'))
after(() => rmSync(root, { recursive: true, force: true }))
let n = 0

describe('MemoryStore', () => {
  storeCompliance({ create: async () => new MemoryStore() })
})

describe('LevelStore', () => {
  const dirs = new WeakMap<KeyValueStore, string>()
  storeCompliance({
    async create() {
      const dir = join(root, `db${n++}`, 'nested')
      const s = await LevelStore.open(dir)
      dirs.set(s, dir)
      return s
    },
    async reopen(s) {
      await s.close()
      return LevelStore.open(dirs.get(s)!)
    },
  })

  it('a resolved batch survives SIGKILL right after', async () => {
    const dir = join(root, 'killed')
    const storeUrl = new URL('../src/store.ts', import.meta.url).href
    const script = `
      import { LevelStore } from ${JSON.stringify(storeUrl)}
      const s = await LevelStore.open(${JSON.stringify(dir)})
      await s.batch([{ type: 'put', key: 'k', value: new Uint8Array([42]) }])
      process.kill(process.pid, 'SIGKILL')`
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], {
      cwd: fileURLToPath(new URL('.', import.meta.url)), encoding: 'utf8',
    })
    assert.equal(child.signal, 'SIGKILL', child.stderr)
    const s = await LevelStore.open(dir)
    try {
      assert.deepEqual(await s.get('k'), new Uint8Array([42]))
    } finally {
      await s.close()
    }
  })
})
