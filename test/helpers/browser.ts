// A scripted browser (playwright-core driving Debian's chromium) for login pages.
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContextOptions, type Page, type Response } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export const browserUnavailable = (): string | false => (existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install -y chromium)`);

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

/**
 * Opens `url` in a fresh context, signs in at the oidc-provider dev login page as `login`
 * and consents; returns the text of the page the browser ends on (the coordinator's).
 */
export async function completeLogin(browser: Browser, url: string, login: string, opts: { intercept?: string; context?: BrowserContextOptions } = {}): Promise<{ status: number | null; text: string; url: string }> {
  const ctx = await browser.newContext(opts.context);
  try {
    const page = await ctx.newPage();
    // `intercept`: the redirect to this URL prefix is captured, not delivered.
    const captured = opts.intercept ? await captureRequests(page, opts.intercept) : null;
    await page.goto(url);
    const last = await signInAtProvider(page, login);
    if (captured) return { status: null, text: '', url: captured() };
    return { status: last?.status() ?? null, text: await page.innerText('body'), url: page.url() };
  } finally {
    await ctx.close();
  }
}

/** From now on, requests of `page` to URLs starting with `prefix` are answered here, not sent; returns the last one's URL. */
export async function captureRequests(page: Page, prefix: string): Promise<() => string> {
  let captured = '';
  // Through CDP's Fetch domain: page.route does not see the hops of a redirect chain.
  const cdp = await page.context().newCDPSession(page);
  cdp.on('Fetch.requestPaused', (e: { requestId: string; request: { url: string } }) => {
    captured = e.request.url;
    void cdp.send('Fetch.fulfillRequest', { requestId: e.requestId, responseCode: 200, body: Buffer.from('captured').toString('base64') });
  });
  await cdp.send('Fetch.enable', { patterns: [{ urlPattern: `${prefix}*` }] });
  return () => captured;
}

/**
 * On the oidc-provider dev login page `page` shows: signs in as `login` and consents
 * (the first time); returns the response of the navigation that follows consent.
 */
export async function signInAtProvider(page: Page, login: string): Promise<Response | null> {
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', 'any password');
  await page.click('button[type=submit]');
  await page.waitForLoadState();
  if (!(await page.locator('button:has-text("Continue")').count())) return null;
  const [last] = await Promise.all([page.waitForNavigation(), page.click('button:has-text("Continue")')]);
  return last;
}
