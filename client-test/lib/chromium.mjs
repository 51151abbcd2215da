// Real Chromium (Debian's `chromium`) driven by playwright-core: headless, no sandbox, nothing that reaches beyond
// loopback. Playwright gives every launch a fresh temporary user-data-dir and removes it on close.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { REPO_ROOT } from './server.mjs';
import { sleep } from './wait.mjs';

export const CHROMIUM_BIN = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
/** Screenshots of the browser tests, kept after the run (gitignored). */
export const ARTIFACTS = path.join(REPO_ROOT, 'client-test', 'artifacts', 'browser');

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchChromium() {
  if (!existsSync(CHROMIUM_BIN)) {
    throw new Error(`${CHROMIUM_BIN} not found: install Debian's chromium package (scripts/install-deps.sh does) or set CHROMIUM_BIN`);
  }
  // Playwright kills the browsers it launched when this process exits, whatever happened.
  return chromium.launch({ executablePath: CHROMIUM_BIN, headless: true, args: FLAGS, timeout: 30000 });
}

/**
 * A PNG of `page` under client-test/artifacts/browser/ once it has settled: CSS transitions done and two captures
 * in a row identical (canvas charts animate without CSS), at most 5 s; resolves with its path.
 */
export async function screenshot(page, name) {
  await page
    .waitForFunction(() => document.getAnimations().every((a) => a.playState !== 'running'), null, { timeout: 5000 })
    .catch(() => {});
  let shot = await page.screenshot();
  for (const deadline = Date.now() + 5000; Date.now() < deadline; ) {
    await sleep(150); // pacing the comparison of captures, not synchronisation
    const next = await page.screenshot();
    if (next.equals(shot)) break;
    shot = next;
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  writeFileSync(file, shot);
  return file;
}
