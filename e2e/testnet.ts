/**
 * End-to-end fixtures: a real relay in a child process on 127.0.0.1, plus polling helpers.
 *
 *   import { test, expect, getStatus, waitFor } from './testnet'
 *   test('...', async ({ page, testnet }) => {
 *     const net = await testnet({ env: { POUW_DIFFICULTY: '1' } })
 *     await page.goto(net.url)
 *     await waitFor(async () => (await getStatus(net.url)).height >= 1, { timeoutMs: 120_000, message: 'first block' })
 *   })
 *
 * Every relay started through the `testnet` fixture is killed in teardown (and on process exit);
 * its full log is saved as test-results/<test>/relay-<n>.log, and its tail is printed when the test fails.
 * POUW_E2E_VERBOSE=1 echoes relay output live.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { setPriority, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test as base, expect } from '@playwright/test'

export { expect }

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
/**
 * Relays run at a higher CPU priority than the browser (nice -10 where allowed, as root).
 * On a 2-core machine, tabs training flat out otherwise starve the relay processes for seconds at
 * a time: websocket handshakes time out, links drop, gossip is lost, and blocks wait past their
 * verifiers' deadline. On a real network relays and volunteers' browsers are different machines;
 * this keeps them apart here.
 *
 * A process's nice value alone is not enough where the kernel groups processes by session
 * (CONFIG_SCHED_AUTOGROUP, on by default in Debian's kernels): the CPU is first shared between
 * sessions, and nice only orders processes within one. Chromium starts its own session, so the
 * relays (in the test runner's session) got an even split with the whole browser at best:
 * measured from /proc/<pid>/schedstat, a relay's main thread spent 78% of 10 s runnable but
 * waiting for a CPU. So the relays' session is given the same nice value too
 * (/proc/<pid>/autogroup; it holds only the runner and its relays).
 */
const RELAY_NICE = -10
let priorityWarned = false
function raisePriority(pid: number | undefined): void {
  if (pid === undefined) return
  try {
    setPriority(pid, RELAY_NICE)
  } catch (e) {
    if (!priorityWarned) console.warn(`[testnet] cannot raise the relays' CPU priority (${(e as Error).message}); they share the CPU with the tabs`)
    priorityWarned = true
    return
  }
  try {
    writeFileSync(`/proc/${pid}/autogroup`, String(RELAY_NICE))
  } catch (e) {
    // ENOENT: no autogroups here (nice alone orders the processes)
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && !priorityWarned) {
      console.warn(`[testnet] cannot raise the relays' session priority (${(e as Error).message}); they share the CPU with the browser's session`)
      priorityWarned = true
    }
  }
}

const RELAY_ARGS = ['--import', './scripts/node-polyfills.mjs', '--import', 'tsx', 'apps/relay/src/main.ts']
const READY_RE = /pouw relay ready: (http:\/\/\S+)/
const DEFAULT_READY_TIMEOUT_MS = 60_000
const KILL_GRACE_MS = 10_000
const MAX_LOG_CHARS = 4_000_000

export interface TestnetOptions {
  /** Extra environment for the relay, e.g. `{ POUW_DIFFICULTY: '4' }`. */
  env?: Record<string, string>
  /** Reuse a data directory (e.g. to test recovery); a fresh temp dir otherwise (removed on dispose). */
  dataDir?: string
  port?: number
  p2pPort?: number
  readyTimeoutMs?: number
  /** Prefix for echoed log lines when POUW_E2E_VERBOSE=1. */
  name?: string
  /** The relay's verifier (and evaluator) key seed, written to DATA_DIR/verifier.key before it starts. */
  verifierSeed?: Uint8Array
  /** Other relays' libp2p multiaddrs (POUW_PEERS): this relay keeps connected to them, one gossip mesh. */
  peers?: string[]
}

export interface Testnet {
  /** HTTP base URL of the relay as announced on its ready line, e.g. http://127.0.0.1:41234 */
  readonly url: string
  readonly port: number
  readonly p2pPort: number
  readonly dataDir: string
  /** The current child process (replaced by restart()). */
  readonly proc: ChildProcess
  /** Everything the relay printed on stdout and stderr so far, across restarts. */
  logs(): string
  /** Sends `signal` (default SIGTERM) and waits for exit; escalates to SIGKILL after 10 s. No-op when already exited. */
  kill(signal?: NodeJS.Signals): Promise<void>
  /** Kills (SIGTERM) if still running, then starts again with the same ports, DATA_DIR and env. */
  restart(): Promise<Testnet>
  /** kill('SIGKILL') if still running, then removes DATA_DIR if this helper created it. */
  dispose(): Promise<void>
}

export interface RelayStatus {
  height: number
  hash: string
  peers: number
  [key: string]: unknown
}

export interface WaitForOptions {
  timeoutMs?: number
  intervalMs?: number
  message?: string
}

const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
})

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port)
        else reject(new Error('freePort: no address'))
      })
    })
  })
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (hasExited(child)) return Promise.resolve(true)
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit)
      resolve(false)
    }, timeoutMs)
    const onExit = () => {
      clearTimeout(timer)
      resolve(true)
    }
    child.once('exit', onExit)
  })
}

/** Spawns the relay from the repo root and resolves once it prints its ready line. */
export async function startTestnet(opts: TestnetOptions = {}): Promise<Testnet> {
  const port = opts.port ?? (await freePort())
  let p2pPort = opts.p2pPort ?? (await freePort())
  while (p2pPort === port) p2pPort = await freePort()
  const ownsDataDir = opts.dataDir === undefined
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'pouw-e2e-')))
  const readyTimeoutMs = opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS
  const verbose = process.env.POUW_E2E_VERBOSE === '1'
  const tag = `[${opts.name ?? `relay:${port}`}] `

  let logText = ''
  const appendLog = (chunk: string) => {
    logText += chunk
    if (logText.length > MAX_LOG_CHARS) logText = logText.slice(logText.length - MAX_LOG_CHARS / 2)
    if (verbose) process.stdout.write(chunk.replace(/^(?=.)/gm, tag))
  }

  let proc!: ChildProcess
  let url = ''

  if (opts.verifierSeed !== undefined) await writeFile(join(dataDir, 'verifier.key'), opts.verifierSeed, { mode: 0o600 })
  const launch = async (): Promise<void> => {
    const child = spawn(process.execPath, RELAY_ARGS, {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        // a 2 s target block time: the tests' sizes are tuned to their POUW_DIFFICULTY, which is also the
        // easiest the adjustment allows, so the difficulty rises only if blocks come faster than that
        // (@skeleton sets a long block time to see it rise)
        POUW_BLOCK_SECONDS: '2',
        ...opts.env,
        ...(opts.peers !== undefined && opts.peers.length > 0 ? { POUW_PEERS: opts.peers.join(',') } : {}),
        PORT: String(port),
        P2P_PORT: String(p2pPort),
        DATA_DIR: dataDir,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    proc = child
    raisePriority(child.pid)
    live.add(child)
    child.once('exit', () => live.delete(child))
    child.stdout!.setEncoding('utf8')
    child.stderr!.setEncoding('utf8')
    child.stderr!.on('data', appendLog)

    await new Promise<void>((resolve, reject) => {
      let pending = ''
      let settled = false
      const finish = (err?: Error) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        child.off('exit', onExit)
        if (err) {
          if (!hasExited(child)) child.kill('SIGKILL')
          reject(err)
        } else resolve()
      }
      const describe = (what: string) =>
        new Error(`relay ${what} (PORT=${port} P2P_PORT=${p2pPort} DATA_DIR=${dataDir})\n--- relay logs ---\n${tail(logText, 80)}`)
      const timer = setTimeout(() => finish(describe(`not ready within ${readyTimeoutMs} ms`)), readyTimeoutMs)
      const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
        finish(describe(`exited before ready (code ${code}, signal ${signal})`))
      child.once('exit', onExit)
      child.once('error', (err) => finish(describe(`failed to spawn: ${err.message}`)))
      child.stdout!.on('data', (chunk: string) => {
        appendLog(chunk)
        if (settled) return
        pending += chunk
        const lines = pending.split('\n')
        pending = lines.pop() ?? ''
        for (const line of lines) {
          const match = READY_RE.exec(line)
          if (match) {
            url = match[1].replace(/\/+$/, '')
            finish()
            return
          }
        }
      })
    })
  }

  const kill = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    const child = proc
    if (hasExited(child)) return
    child.kill(signal)
    if (await waitForExit(child, KILL_GRACE_MS)) return
    child.kill('SIGKILL')
    await waitForExit(child, KILL_GRACE_MS)
  }

  try {
    await launch()
  } catch (err) {
    if (ownsDataDir) await rm(dataDir, { recursive: true, force: true })
    throw err
  }

  const testnet: Testnet = {
    get url() {
      return url
    },
    port,
    p2pPort,
    dataDir,
    get proc() {
      return proc
    },
    logs: () => logText,
    kill,
    async restart() {
      await kill('SIGTERM')
      appendLog(`\n----- restart (same PORT=${port} P2P_PORT=${p2pPort} DATA_DIR) -----\n`)
      await launch()
      return testnet
    },
    async dispose() {
      await kill('SIGKILL')
      if (ownsDataDir) await rm(dataDir, { recursive: true, force: true })
    },
  }
  return testnet
}

/** GET `url` as JSON (10 s limit); throws on an HTTP error. */
export async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) })
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`)
  return (await res.json()) as T
}

/** GET `${url}/api/status`, checked to have at least `{ height: number, hash: string, peers: number }`. */
export async function getStatus(url: string): Promise<RelayStatus> {
  const body = await getJson<unknown>(`${url}/api/status`)
  if (
    typeof body !== 'object' ||
    body === null ||
    typeof (body as RelayStatus).height !== 'number' ||
    typeof (body as RelayStatus).hash !== 'string' ||
    typeof (body as RelayStatus).peers !== 'number'
  ) {
    throw new Error(`GET ${url}/api/status: expected { height: number, hash: string, peers: number }, got ${JSON.stringify(body)}`)
  }
  return body as RelayStatus
}

/**
 * Calls `fn` every `intervalMs` until it returns a truthy value, and returns that value.
 * Exceptions from `fn` count as "not yet"; the last one is reported if time runs out.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  { timeoutMs = 60_000, intervalMs = 500, message = 'condition' }: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  let lastValue: unknown
  for (;;) {
    try {
      const value = await fn()
      if (value) return value as NonNullable<T>
      lastValue = value
      lastError = undefined
    } catch (err) {
      lastError = err
    }
    if (Date.now() >= deadline) {
      const detail = lastError
        ? `last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`
        : `last value: ${JSON.stringify(lastValue)}`
      throw new Error(`waitFor timed out after ${timeoutMs} ms: ${message} (${detail})`)
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, Math.max(0, deadline - Date.now()))))
  }
}

export function tail(text: string, lines: number): string {
  const all = text.split('\n')
  return all.slice(Math.max(0, all.length - lines)).join('\n')
}

export type TestnetFactory = (opts?: TestnetOptions) => Promise<Testnet>

/** A relay's libp2p websocket addresses (…/ws/p2p/ID), from its /api/status. */
export async function relayAddrs(url: string): Promise<string[]> {
  const status = await getStatus(url)
  const addrs = (status.relay as { addrs?: unknown } | undefined)?.addrs
  if (!Array.isArray(addrs)) throw new Error(`GET ${url}/api/status: no relay.addrs`)
  return (addrs as string[]).filter((a) => a.includes('/ws/p2p/'))
}

/**
 * Starts `count` relays that form one gossip mesh: each with its own ports and DATA_DIR, and
 * POUW_PEERS naming the relays started before it (they learn of the later ones at runtime).
 * `opts` applies to every relay (its `peers` are added to the mesh's; ports and data dirs are never shared).
 */
export async function startRelayMesh(
  start: TestnetFactory,
  count: number,
  opts: Omit<TestnetOptions, 'port' | 'p2pPort' | 'dataDir'> = {},
): Promise<Testnet[]> {
  const relays: Testnet[] = []
  const peers = [...(opts.peers ?? [])]
  // one evaluator federation for the whole mesh: every relay's key, known before any starts
  // (Ed25519 from node:crypto: the JWK's d is the 32-byte seed the relay reads, x its public key)
  const keys = Array.from({ length: count }, () => generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }))
  const seeds = keys.map((k) => new Uint8Array(Buffer.from(k.d!, 'base64url')))
  const env = { ...opts.env, POUW_EVALUATORS: keys.map((k) => Buffer.from(k.x!, 'base64url').toString('hex')).join(',') }
  for (let i = 0; i < count; i++) {
    const net = await start({ env, verifierSeed: seeds[i], readyTimeoutMs: opts.readyTimeoutMs, peers: [...peers], name: opts.name ? `${opts.name}-${i}` : `relay-${i}` })
    relays.push(net)
    peers.push(...(await relayAddrs(net.url)))
  }
  return relays
}

/**
 * Playwright `test` with a `testnet` fixture: call it to start a relay (as many as a test needs).
 * Teardown kills every relay it started, attaches each relay's logs to the report,
 * prints their tail when the test failed, and removes temp data dirs.
 */
export const test = base.extend<{ testnet: TestnetFactory }>({
  // eslint-disable-next-line no-empty-pattern
  testnet: async ({}, use, testInfo) => {
    const started: Testnet[] = []
    await use(async (opts) => {
      const net = await startTestnet(opts)
      started.push(net)
      return net
    })
    const failed = testInfo.status !== testInfo.expectedStatus
    for (const [i, net] of started.entries()) {
      await net.kill('SIGTERM')
      const logPath = testInfo.outputPath(`relay-${i}.log`)
      await writeFile(logPath, net.logs())
      await testInfo.attach(`relay-${i}.log`, { path: logPath, contentType: 'text/plain' })
      if (failed) console.error(`--- relay ${i} (${net.url}) log tail ---\n${tail(net.logs(), 60)}`)
      await net.dispose()
    }
  },
})
