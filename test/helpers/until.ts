/**
 * Waiting on a condition in tests that run real processes, sockets or servers: polled on the
 * wall clock, always with a deadline, so a test never sleeps a fixed time and never hangs.
 */

/** Polls `check` every 20 ms until it holds, for at most `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
