// Loaded first in every `npm run test:unit` process (`node --import ./scripts/test-report-flush.mjs ...`).
//
// With --test-force-exit, each test file's child process streams its verdicts to the runner over
// stdout, a pipe, which Node writes asynchronously on Linux; the forced process.exit() can drop the
// last frames, and the runner then reports fewer tests than ran, still with `fail 0`
// (nodejs/node#64833, open). A CI run here lost the last 4 verdicts of vectors.test.ts that way.
// Blocking writes on that pipe deliver every frame before the exit. Measured here on Node 20 with
// 2,000 empty tests in one file: 5 of 20 runs lost verdicts without this, 0 of 20 with it.
// (`_handle.setBlocking` is the idiom Node's own net and tty modules use before an exit.)
process.stdout._handle?.setBlocking?.(true)
