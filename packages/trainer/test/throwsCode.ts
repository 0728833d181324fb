import assert from 'node:assert/strict'
import { isPouwError } from '@pouw/protocol'

/** Asserts that `fn` throws a PouwError with `code` (and, if given, a message matching `text`). */
export function throwsCode(fn: () => unknown, code: string, text?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isPouwError(e), `expected a PouwError, got ${String(e)}`)
    assert.equal(e.code, code)
    if (text) assert.match(e.message, text)
    return true
  })
}
