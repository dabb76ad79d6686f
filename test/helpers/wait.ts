// Polling helpers for tests that wait on asynchronous state.

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` every `stepMs` until it is true or `ms` passed; the last answer. */
export async function waitFor(fn: () => boolean | Promise<boolean>, ms: number, stepMs = 20): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await sleep(stepMs);
  }
  return fn();
}

/** As waitFor, for a check that has to ask something (a CLI, a socket). */
export async function waitForAsync(fn: () => Promise<boolean>, ms: number, stepMs = 200): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await sleep(stepMs);
  }
  return fn();
}
