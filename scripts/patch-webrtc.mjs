// Root `postinstall` (our own package's scripts run under `npm ci`; dependencies' install scripts do not).
// Fixes a race in @libp2p/webrtc 6.0.33's private-to-private dialer (P2P-NOTES 5): after ICE
// connects, the initiator waits for its 'init' data channel to OPEN, then closes it and waits
// for CLOSE. The recipient closes that channel as soon as it sees it, so by the time the
// initiator looks, the channel may already be closing or closed: waiting for 'open' then hangs
// until the dial times out (~11% of browser dials). The fix waits for open OR close while the
// channel is still connecting, and closes and waits for close only if it is not closed yet.
//
// Idempotent: a file already patched is left alone; a file that does not contain the expected
// text (another version) is left alone with a warning, since the dialler's retries still cover
// the hang. `node scripts/patch-webrtc.mjs --revert` restores the original (for measurements).
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const PKG = join(ROOT, 'node_modules/@libp2p/webrtc')
const FILE = join(PKG, 'dist/src/private-to-private/initiate-connection.js')
const MARK = '/* pouw: init-channel race patch (scripts/patch-webrtc.mjs) */'

const ORIGINAL = `        if (channel.readyState !== 'open') {
            log.trace('wait for init channel to open');
            await pEvent(channel, 'open', {
                signal
            });
        }
        log.trace('closing init channel');
        channel.close();
        // wait for init channel to close before proceeding, otherwise the channel
        // id can be reused before both sides have seen the channel close
        log.trace('waiting for init channel to close');
        await pEvent(channel, 'close', {
            signal
        });
`

const PATCHED = `        ${MARK}
        if (channel.readyState === 'connecting') {
            log.trace('wait for init channel to open (or to be closed by the remote)');
            await pEvent(channel, ['open', 'close'], {
                signal
            });
        }
        if (channel.readyState !== 'closed') {
            log.trace('closing init channel');
            channel.close();
            // wait for init channel to close before proceeding, otherwise the channel
            // id can be reused before both sides have seen the channel close
            log.trace('waiting for init channel to close');
            await pEvent(channel, 'close', {
                signal
            });
        }
`

const say = (msg) => console.log(`[patch-webrtc] ${msg}`)
const revert = process.argv.includes('--revert')

if (!existsSync(FILE)) {
  say('@libp2p/webrtc is not installed: nothing to patch')
  process.exit(0)
}
const version = JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8')).version
const text = readFileSync(FILE, 'utf8')
if (revert) {
  if (text.includes(PATCHED)) {
    writeFileSync(FILE, text.replace(PATCHED, ORIGINAL))
    say(`reverted @libp2p/webrtc ${version}`)
  } else say(`@libp2p/webrtc ${version} is not patched`)
} else if (text.includes(MARK)) {
  say(`@libp2p/webrtc ${version} already patched`)
} else if (text.includes(ORIGINAL)) {
  writeFileSync(FILE, text.replace(ORIGINAL, PATCHED))
  say(`patched @libp2p/webrtc ${version} (init-channel race, P2P-NOTES 5)`)
} else {
  say(`WARNING: @libp2p/webrtc ${version} does not contain the expected code; not patched (dial retries still apply)`)
}
