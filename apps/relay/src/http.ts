import { createReadStream, existsSync, statSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import path from 'node:path'
import { isPouwError } from '@pouw/protocol'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.wasm': 'application/wasm', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon',
}

export type ApiHandler = (url: URL) => Promise<unknown>
/** A POST route: the request body (at most MAX_BODY_BYTES) in, JSON out. */
export type PostHandler = (url: URL, body: Uint8Array) => Promise<unknown>

/** Largest POST body read; a longer one is refused with 413 before it is buffered. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024

/**
 * The API is public and carries no cookies or credentials, so any page may call it: a tab
 * served by one relay reads and writes the others (re-delivering its messages, say).
 */
const CORS = { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET, POST', 'access-control-allow-headers': 'content-type' }

export class HttpError extends Error {
  /** `code`: a machine-readable reason (RELAY_*), sent with the message */
  constructor(readonly status: number, message: string, readonly code?: string) { super(message) }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...CORS })
  res.end(text)
}

function sendFile(res: ServerResponse, file: string): void {
  const type = TYPES[path.extname(file)] ?? 'application/octet-stream'
  res.writeHead(200, { 'content-type': type, 'content-length': statSync(file).size })
  createReadStream(file).pipe(res)
}

async function readBody(req: IncomingMessage): Promise<Uint8Array> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > MAX_BODY_BYTES) throw new HttpError(413, `body of ${declared} bytes, at most ${MAX_BODY_BYTES}`)
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length
    if (total > MAX_BODY_BYTES) throw new HttpError(413, `body over ${MAX_BODY_BYTES} bytes`)
    chunks.push(chunk)
  }
  return new Uint8Array(Buffer.concat(chunks))
}

/**
 * The relay's HTTP side: `GET /api/...` and `POST /api/...` JSON routes (open to any origin),
 * a few named data files, and the built page (any other path falls back to index.html).
 * Paths are resolved inside their roots, never outside.
 */
export function createHttpServer(opts: {
  api: Record<string, ApiHandler>
  post?: Record<string, PostHandler>
  files: Record<string, string>
  /** bytes served from memory or the store (dataset fragments), by path; undefined: not ours */
  blobs?: (pathname: string) => Uint8Array | undefined | Promise<Uint8Array | undefined>
  webDir: string
}): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost')
      try {
        if (req.method === 'OPTIONS' && url.pathname.startsWith('/api/')) { res.writeHead(204, CORS); return res.end() }
        if (req.method === 'POST') {
          const post = opts.post?.[url.pathname]
          if (!post) throw new HttpError(url.pathname in opts.api ? 405 : 404, `no POST route ${url.pathname}`)
          return sendJson(res, 200, await post(url, await readBody(req)))
        }
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} is not allowed`)
        const api = opts.api[url.pathname]
        if (api) return sendJson(res, 200, await api(url))
        if (url.pathname.startsWith('/api/')) throw new HttpError(404, `no API route ${url.pathname}`)
        const blob = await opts.blobs?.(url.pathname)
        if (blob) {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.length, 'cache-control': 'public, max-age=3600' })
          return res.end(blob)
        }
        const named = opts.files[url.pathname]
        if (named) return sendFile(res, named)
        const root = path.resolve(opts.webDir)
        const file = path.resolve(root, '.' + decodeURIComponent(url.pathname))
        if (file.startsWith(root + path.sep) && existsSync(file) && statSync(file).isFile()) return sendFile(res, file)
        const index = path.join(root, 'index.html')
        if (!existsSync(index)) throw new HttpError(503, 'the page is not built: run `npm run build:web`')
        return sendFile(res, index)
      } catch (e) {
        // bad input from the caller (a malformed body) is a 400 with the protocol's code
        if (isPouwError(e)) return sendJson(res, 400, { error: e.message, code: e.code })
        const status = e instanceof HttpError ? e.status : 500
        sendJson(res, status, { error: (e as Error).message, ...(e instanceof HttpError && e.code !== undefined ? { code: e.code } : {}) })
      }
    })()
  })
}

/** POSTs `body` to `route` on another relay (`base`: its HTTP base URL), with a 30 s limit. */
export function postToRelay(base: string, route: string, body: Uint8Array): Promise<Response> {
  return fetch(new URL(route, base), { method: 'POST', body: body as BodyInit, signal: AbortSignal.timeout(30_000) })
}

/** the `code` and `error` of a refusal's JSON body (createHttpServer's), as far as it has them; never throws */
async function refusalOf(res: Response): Promise<{ code?: string; error?: string }> {
  try {
    const body = (await res.json()) as { code?: unknown; error?: unknown }
    return { ...(typeof body.code === 'string' ? { code: body.code } : {}), ...(typeof body.error === 'string' ? { error: body.error.slice(0, 200) } : {}) }
  } catch {
    return {}
  }
}

/**
 * When a hand-on that failed (no answer, or a 5xx: the relay is down, restarting or stopping) is
 * tried again, after the first attempt: about 9 minutes in all. A final model handed on to one
 * relay only would otherwise go unscored by the others, and its honest miner count as offline.
 */
export const HAND_ON_RETRY_MS: readonly number[] = [2_000, 5_000, 15_000, 30_000, 60_000, 120_000, 300_000]

export interface HandOnOptions {
  /**
   * refusals not worth a log line: an HTTP status (a 409 'already closed', say) or the error code a refusal names
   * (LEDGER_MEMPOOL_DUPLICATE: the relay already holds it)
   */
  quiet?: readonly (number | string)[]
  /** delays before each further attempt after a failure (default HAND_ON_RETRY_MS) */
  retryMs?: readonly number[]
  /** false once the caller stopped: no further attempt starts */
  active?: () => boolean
}

/**
 * Hands `body` to `route` on every relay in `bases`, without waiting: a refusal (other than one whose
 * status or error code is in `quiet`) is logged with its code and reason; a failure is tried again
 * (retryMs), then logged. Never throws.
 */
export function handOnToRelays(
  bases: readonly string[], route: string, body: Uint8Array, log: (msg: string, ctx?: Record<string, unknown>) => void, opts: HandOnOptions = {},
): void {
  const retryMs = opts.retryMs ?? HAND_ON_RETRY_MS
  const quiet = opts.quiet ?? []
  const attempt = (base: string, n: number): void => {
    if (opts.active?.() === false) return
    const again = (why: Record<string, unknown>): void => {
      if (n >= retryMs.length) { log('not handed on', { route, relay: base, attempts: n + 1, ...why }); return }
      setTimeout(() => attempt(base, n + 1), retryMs[n]).unref()
    }
    void postToRelay(base, route, body).then(
      (res) => {
        if (res.ok || res.status >= 500 || quiet.includes(res.status)) {
          void res.body?.cancel().catch(() => {}) // unread: the connection is let go now, not at garbage collection
          if (res.status >= 500) again({ status: res.status })
          return
        }
        // a refusal: logged with the code and reason its JSON body names, unless that code is a quiet one
        void refusalOf(res).then(({ code, error }) => {
          if (code === undefined || !quiet.includes(code)) log('not handed on', { route, relay: base, status: res.status, ...(code !== undefined ? { code } : {}), ...(error !== undefined ? { error } : {}) })
        })
      },
      (e: unknown) => again({ error: String(e) }),
    )
  }
  for (const base of bases) attempt(base, 0)
}
