import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import react from '@vitejs/plugin-react'
import { defineConfig, type Plugin } from 'vite'

const REPO_ROOT = fileURLToPath(new URL('.', import.meta.url))
const WEB_ROOT = join(REPO_ROOT, 'apps/web')
const TFJS_WASM_DIR = join(REPO_ROOT, 'node_modules/@tensorflow/tfjs-backend-wasm/dist')
/** URL prefix under which the tfjs wasm binaries are served; the worker passes it to setWasmPaths(). */
const TFJS_WASM_PREFIX = '/tfjs-wasm/'

function listWasmFiles(): string[] {
  return readdirSync(TFJS_WASM_DIR).filter((name) => name.endsWith('.wasm'))
}

/**
 * Serves node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm at /tfjs-wasm/ in dev,
 * and copies them to <outDir>/tfjs-wasm/ in a build (so preview and the relay serve them too).
 */
function tfjsWasmPlugin(): Plugin {
  return {
    name: 'pouw:tfjs-wasm',
    configureServer(server) {
      const files = new Set(listWasmFiles())
      server.middlewares.use((req, res, next) => {
        const pathname = (req.url ?? '').split('?')[0]
        if (!pathname.startsWith(TFJS_WASM_PREFIX)) return next()
        const name = pathname.slice(TFJS_WASM_PREFIX.length)
        if (!files.has(name)) {
          res.statusCode = 404
          res.end(`no such tfjs wasm binary: ${name}`)
          return
        }
        res.setHeader('Content-Type', 'application/wasm')
        res.setHeader('Cache-Control', 'no-cache')
        res.end(readFileSync(join(TFJS_WASM_DIR, name)))
      })
    },
    generateBundle() {
      for (const name of listWasmFiles()) {
        this.emitFile({
          type: 'asset',
          fileName: `${TFJS_WASM_PREFIX.slice(1)}${name}`,
          source: readFileSync(join(TFJS_WASM_DIR, name)),
        })
      }
    },
  }
}

export default defineConfig({
  root: WEB_ROOT,
  publicDir: false,
  plugins: [react(), tfjsWasmPlugin()],
  build: {
    outDir: join(WEB_ROOT, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
  },
  worker: {
    format: 'es',
  },
  server: {
    host: '127.0.0.1',
    fs: { allow: [REPO_ROOT] },
    // `vite` dev server: forward the relay's HTTP API (set POUW_RELAY to a running relay).
    proxy: {
      '/api': { target: process.env.POUW_RELAY ?? 'http://127.0.0.1:8080', changeOrigin: true },
    },
  },
  preview: {
    host: '127.0.0.1',
  },
})
