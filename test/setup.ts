/**
 * Loaded into every test process (`node --import ./test/setup.ts --test`).
 * An unhandled rejection or uncaught exception anywhere in the suite fails the
 * run, even when the test that caused it has already passed.
 */
for (const event of ['unhandledRejection', 'uncaughtException'] as const) {
  process.on(event, (err: unknown) => {
    process.exitCode = 1
    process.stderr.write(`\n*** ${event} during the test run - failing it:\n${(err as Error)?.stack ?? String(err)}\n`)
  })
}
