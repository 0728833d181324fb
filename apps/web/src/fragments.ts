/**
 * The task's dataset as fragments d_1..d_p (paper 003 §4.2.2): downloaded
 * from the relay, each checked against the hash the task definition
 * publishes. A fragment that does not match is never trained on. Used by the
 * page (download, with progress) and by the worker (the check again, at the
 * boundary where the data becomes a TaskData).
 */
import { bytesEqual, inputSize, toHex, type TaskSpec } from '@pouw/protocol'
import { dataPrepError, fragmentHashAsync, recordSize, taskFragments } from '@pouw/trainer'

/** Exact byte length of each fragment: its record count times (label + features). */
export function fragmentSizes(task: TaskSpec): number[] {
  const size = recordSize(inputSize(task))
  return taskFragments(task).map((r) => r.count * size)
}

/**
 * Throws DATA_BAD_FRAGMENT (wrong size) or DATA_FRAGMENT_HASH_MISMATCH unless
 * `bytes` is fragment `index` of the task. The hash goes through WebCrypto.
 */
export async function checkFragment(task: TaskSpec, index: number, bytes: Uint8Array, sizes = fragmentSizes(task)): Promise<void> {
  const expected = task.fragmentHashes[index]
  const size = sizes[index]
  if (expected === undefined || size === undefined) throw dataPrepError('BAD_FRAGMENT', `fragment ${index}: the task has ${task.fragmentHashes.length} fragments`)
  if (bytes.length !== size) throw dataPrepError('BAD_FRAGMENT', `fragment ${index}: ${bytes.length} bytes, the task says ${size}`, { index, bytes: bytes.length, expected: size })
  const actual = await fragmentHashAsync(bytes)
  if (!bytesEqual(actual, expected)) {
    throw dataPrepError('FRAGMENT_HASH_MISMATCH', `fragment ${index} is corrupt: hash ${toHex(actual)}, the task definition says ${toHex(expected)}`, {
      index, expected: toHex(expected), actual: toHex(actual),
    })
  }
}

export interface FragmentProgress {
  /** fragments downloaded and verified */
  done: number
  total: number
  bytes: number
  totalBytes: number
}

const CONCURRENCY = 4
const ATTEMPTS = 3

/** GET `url` into a buffer of exactly `size` bytes, refusing more before allocating anything else. */
async function fetchExact(url: string, size: number, onBytes: (n: number) => void): Promise<Uint8Array> {
  const res = await fetch(url, { cache: 'no-cache' })
  if (!res.ok || res.body === null) throw new Error(`GET ${url}: HTTP ${res.status}`)
  const out = new Uint8Array(size)
  const reader = res.body.getReader()
  let offset = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    if (offset + value.length > size) {
      void reader.cancel().catch(() => {})
      throw dataPrepError('BAD_FRAGMENT', `${url}: more than the ${size} bytes the task says`, { url, expected: size })
    }
    out.set(value, offset)
    offset += value.length
    onBytes(value.length)
  }
  if (offset !== size) throw dataPrepError('BAD_FRAGMENT', `${url}: ${offset} bytes, the task says ${size}`, { url, bytes: offset, expected: size })
  return out
}

/**
 * Every fragment of the task from `${baseUrl}<i>`, checked, in fragment
 * order. A transport failure is retried; a wrong fragment is not (it is the
 * server's fault and throws at once). With `only`, just those fragments are
 * fetched; the others come back as zeros of their size (a client task's
 * miner gets the training split only: the test split stays with the relays).
 */
export async function downloadFragments(
  task: TaskSpec,
  onProgress: (p: FragmentProgress) => void,
  baseUrl = '/data/fragments/',
  only?: readonly number[],
): Promise<Uint8Array[]> {
  const sizes = fragmentSizes(task)
  const wanted = only === undefined ? sizes.map((_, i) => i) : [...only].sort((a, b) => a - b)
  const outside = wanted.find((i) => !Number.isInteger(i) || i < 0 || i >= sizes.length)
  if (outside !== undefined) throw dataPrepError('BAD_FRAGMENT', `fragment ${outside}: the task has ${sizes.length} fragments`)
  const progress: FragmentProgress = { done: 0, total: wanted.length, bytes: 0, totalBytes: wanted.reduce((a, i) => a + sizes[i]!, 0) }
  onProgress({ ...progress })
  // zeros only where nothing is downloaded: the others are filled by one()
  const want = new Set(wanted)
  const out: Uint8Array[] = sizes.map((n, i) => (want.has(i) ? new Uint8Array(0) : new Uint8Array(n)))
  let next = 0
  let failed = false
  const one = async (i: number): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      let received = 0
      try {
        const bytes = await fetchExact(`${baseUrl}${i}`, sizes[i]!, (n) => { received += n; progress.bytes += n; onProgress({ ...progress }) })
        await checkFragment(task, i, bytes, sizes)
        out[i] = bytes
        progress.done++
        onProgress({ ...progress })
        return
      } catch (e) {
        progress.bytes -= received
        if ((e as { code?: unknown }).code !== undefined || attempt >= ATTEMPTS) throw e
        await new Promise((r) => setTimeout(r, 1000 * attempt))
      }
    }
  }
  const lane = async (): Promise<void> => {
    try {
      while (!failed && next < wanted.length) await one(wanted[next++]!)
    } catch (e) {
      failed = true // the other lanes stop after their current fragment
      throw e
    }
  }
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, wanted.length) }, lane))
  return out
}
