// What the OIDC browser tests share: signing in to the web console through the
// provider, and tearing down what they started.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import type { Coordinator } from '../../src/control/server.js';
import { signInAtProvider } from './browser.js';
import type { TestProvider } from './oidc-provider.js';

/** From the console's login page at `consoleUrl` through the provider as `login`; the page ends where the callback sends it. */
export async function signInToConsole(page: Page, consoleUrl: string, idp: TestProvider, login: string): Promise<void> {
  await page.goto(consoleUrl);
  const link = page.locator('#providers a.provider');
  await link.waitFor();
  assert.equal(await link.textContent(), `Sign in with ${new URL(idp.issuer).host}`);
  await link.click();
  await page.waitForSelector('input[name=login]');
  await signInAtProvider(page, login);
  await page.waitForLoadState();
}

/** Stops what a test's `before` started (any of it may be missing when `before` failed) and removes `dir`. */
export async function stopAll(t: { browser?: Browser; coordinators: (Coordinator | undefined)[]; idp?: TestProvider; dir: string }): Promise<void> {
  await t.browser?.close();
  for (const c of t.coordinators) await c?.stop();
  await t.idp?.stop();
  rmSync(t.dir, { recursive: true, force: true });
}
