// `npm start`: install if needed, (re)build the volunteer page if stale, then run the relay,
// which serves the page and the API. PORT defaults to 8080, DATA_DIR to .data/relay.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
process.chdir(REPO_ROOT)

const WEB_DIST_INDEX = join(REPO_ROOT, 'apps/web/dist/index.html')
/** Inputs of the page bundle: if any is newer than the built index.html, rebuild. */
const WEB_INPUTS = [
  'apps/web/src',
  'apps/web/index.html',
  'vite.config.ts',
  ...listDirs('packages').map((name) => `packages/${name}/src`),
]

function listDirs(dir) {
  try {
    return readdirSync(join(REPO_ROOT, dir), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
  } catch {
    return []
  }
}

function newestMtimeMs(path) {
  if (!existsSync(path)) return 0
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  let newest = stat.mtimeMs
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtimeMs(join(path, entry)))
  return newest
}

function run(command, args) {
  console.log(`[start] ${command} ${args.join(' ')}`)
  const result = spawnSync(command, args, { stdio: 'inherit', cwd: REPO_ROOT })
  if (result.error) throw result.error
  if (result.status !== 0) {
    console.error(`[start] ${command} ${args.join(' ')} failed with exit code ${result.status}`)
    process.exit(result.status ?? 1)
  }
}

if (!existsSync(join(REPO_ROOT, 'node_modules'))) {
  run('npm', existsSync(join(REPO_ROOT, 'package-lock.json')) ? ['ci', '--no-audit', '--no-fund'] : ['install'])
}

const builtAt = existsSync(WEB_DIST_INDEX) ? statSync(WEB_DIST_INDEX).mtimeMs : 0
const sourcesAt = Math.max(...WEB_INPUTS.map((p) => newestMtimeMs(join(REPO_ROOT, p))))
if (builtAt === 0 || builtAt < sourcesAt) run('npx', ['vite', 'build'])
else console.log('[start] apps/web/dist is up to date')

const env = {
  ...process.env,
  PORT: process.env.PORT ?? '8080',
  DATA_DIR: resolve(REPO_ROOT, process.env.DATA_DIR ?? '.data/relay'),
}
mkdirSync(env.DATA_DIR, { recursive: true })

const relay = spawn(
  process.execPath,
  ['--import', './scripts/node-polyfills.mjs', '--import', 'tsx', 'apps/relay/src/main.ts', ...process.argv.slice(2)],
  { stdio: 'inherit', cwd: REPO_ROOT, env },
)

// Forward termination requests; the relay decides how to shut down. (On a terminal, Ctrl-C also
// reaches the relay directly, as it shares our process group, so it may see SIGINT twice.)
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (relay.exitCode === null && relay.signalCode === null) relay.kill(signal)
  })
}

relay.on('error', (err) => {
  console.error(`[start] could not start the relay: ${err.message}`)
  process.exit(1)
})

relay.on('exit', (code, signal) => {
  if (signal) {
    process.removeAllListeners(signal)
    process.kill(process.pid, signal)
  } else {
    process.exit(code ?? 0)
  }
})
