import { createReadStream, existsSync, statSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import path from 'node:path'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.wasm': 'application/wasm', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon',
}

export type ApiHandler = (url: URL) => Promise<unknown>

export class HttpError extends Error {
  constructor(readonly status: number, message: string) { super(message) }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
  res.end(text)
}

function sendFile(res: ServerResponse, file: string): void {
  const type = TYPES[path.extname(file)] ?? 'application/octet-stream'
  res.writeHead(200, { 'content-type': type, 'content-length': statSync(file).size })
  createReadStream(file).pipe(res)
}

/**
 * The relay's HTTP side: `GET /api/...` JSON routes, a few named data files,
 * and the built page (any other path falls back to index.html). Only GET;
 * paths are resolved inside their roots, never outside.
 */
export function createHttpServer(opts: {
  api: Record<string, ApiHandler>
  files: Record<string, string>
  /** bytes served from memory (dataset fragments), by path; undefined: not ours */
  blobs?: (pathname: string) => Uint8Array | undefined
  webDir: string
}): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost')
      try {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} is not allowed`)
        const api = opts.api[url.pathname]
        if (api) return sendJson(res, 200, await api(url))
        if (url.pathname.startsWith('/api/')) throw new HttpError(404, `no API route ${url.pathname}`)
        const blob = opts.blobs?.(url.pathname)
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
        const status = e instanceof HttpError ? e.status : 500
        sendJson(res, status, { error: (e as Error).message })
      }
    })()
  })
}
