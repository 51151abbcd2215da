// Real Chromium (Debian's `chromium` package) driven by playwright-core, for the chat page of web/ (issue 16).
//
//   launchChromium()                 -> Browser (headless, no sandbox, no network of its own; closed at exit)
//   openChat(browser, url, label)    -> ChatPage {page, context, consoleErrors(), pageErrors, screenshot(name), ...}
//   WEB_DIST, CLIENT_DIST            the built page (web/dist) and socket.io-client's dist, for --web-dir/--client-dir
//
// The page is driven only through its stable ids and data-test attributes (see web/index.html).

import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { REPO_ROOT } from './server.mjs';

export const CHROMIUM_BIN = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
export const WEB_DIST = path.join(REPO_ROOT, 'web', 'dist');
export const CLIENT_DIST = path.join(REPO_ROOT, 'web', 'node_modules', 'socket.io-client', 'dist');
/** Screenshots of the browser tests, kept after the run (gitignored). */
export const ARTIFACTS = path.join(REPO_ROOT, 'client-test', 'artifacts', 'browser');

/**
 * Chromium flags: headless, no sandbox (root in CI), and nothing that reaches beyond loopback (no QUIC, no background
 * networking, component updates or sync). Playwright starts every launch with a fresh temporary `--user-data-dir` of
 * its own (it refuses one in `args`) and removes it on close; contexts are isolated cookie jars on top of that.
 */
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

/** Fail early with the command that fixes it when the page or Chromium is missing. */
export function requireBrowserSetup() {
  if (!existsSync(CHROMIUM_BIN)) {
    throw new Error(`${CHROMIUM_BIN} not found: install Debian's chromium package (scripts/install-deps.sh does) or set CHROMIUM_BIN`);
  }
  if (!existsSync(path.join(WEB_DIST, 'index.html'))) {
    throw new Error(`${WEB_DIST}/index.html not found: build the page with \`cd web && npm ci && npm run build\``);
  }
  if (!existsSync(path.join(CLIENT_DIST, 'socket.io.min.js'))) {
    throw new Error(`${CLIENT_DIST} not found: run \`npm ci\` in web/`);
  }
}

export async function launchChromium() {
  requireBrowserSetup();
  // Playwright kills the browsers it launched when this process exits, whatever happened.
  return chromium.launch({ executablePath: CHROMIUM_BIN, headless: true, args: FLAGS, timeout: 30000 });
}

/** One browser context (own cookies) with the chat page open, recording console messages and page errors. */
export class ChatPage {
  constructor(label, context, page) {
    this.label = label;
    this.context = context;
    this.page = page;
    this.console = []; // {type, text, at}
    this.pageErrors = [];
    this.requests = []; // Engine.IO requests: {url, method, cookie, at}
    page.on('console', (m) => this.console.push({ type: m.type(), text: m.text(), at: Date.now() }));
    page.on('pageerror', (e) => this.pageErrors.push(String(e?.stack ?? e)));
    page.on('request', async (r) => {
      if (!/[?&]EIO=4/.test(r.url())) return;
      const entry = { url: r.url(), method: r.method(), at: Date.now(), cookie: null };
      this.requests.push(entry);
      try {
        entry.cookie = (await r.allHeaders()).cookie ?? '';
      } catch {
        /* page closed */
      }
    });
  }

  /** Console messages of type error (network failures included: Chromium logs them to the console). */
  consoleErrors({ since = 0 } = {}) {
    return this.console.filter((m) => m.type === 'error' && m.at >= since);
  }

  /** `{state, transport, text}` of the connection-state badge. */
  async status() {
    return this.page.$eval('#status', (e) => ({ state: e.dataset.state, transport: e.dataset.transport, text: e.textContent }));
  }

  /** Wait until the badge shows `state` (and `transport` when given); resolves with the moment it was seen. */
  async waitState(state, { transport, timeout = 10000 } = {}) {
    const sel = `#status[data-state="${state}"]${transport ? `[data-transport="${transport}"]` : ''}`;
    try {
      await this.page.waitForSelector(sel, { timeout });
    } catch (err) {
      throw new Error(`${this.label}: ${sel} not seen within ${timeout} ms (now: ${JSON.stringify(await this.status().catch(() => null))})\n${err.message}`);
    }
    return Date.now();
  }

  /** The node id shown on the page ('' while not connected). */
  node() {
    return this.page.textContent('#node');
  }

  socketId() {
    return this.page.textContent('#sid');
  }

  async join(room) {
    await this.page.fill('#room-input', room);
    await this.page.click('#join');
    await this.page.waitForSelector(`#rooms [data-test="room"][data-room="${room}"]`, { timeout: 5000 });
  }

  /** Leave `room` with its × button; resolves once the page no longer lists it. */
  async leave(room) {
    await this.page.click(`#rooms [data-test="room"][data-room="${room}"] [data-test="leave"]`);
    await this.page.waitForSelector(`#rooms [data-test="room"][data-room="${room}"]`, { state: 'detached', timeout: 5000 });
  }

  /** Wait until the member list of the shown room is exactly `names` (in any order). */
  async waitMembers(names, timeout = 10000) {
    const want = [...names].sort();
    await this.page
      .waitForFunction(
        (w) => {
          const got = [...document.querySelectorAll('#members [data-test="member"]')].map((e) => e.dataset.name).sort();
          return JSON.stringify(got) === JSON.stringify(w);
        },
        want,
        { timeout },
      )
      .catch(async (err) => {
        const got = await this.page.$$eval('#members [data-test="member"]', (es) => es.map((e) => e.dataset.name));
        throw new Error(`${this.label}: members ${JSON.stringify(got)}, expected ${JSON.stringify(want)}\n${err.message}`);
      });
  }

  async sendRoom(text) {
    await this.page.fill('#message-input', text);
    await this.page.click('#send');
  }

  /** Wait for a room message with `text` from `from` in the shown room. */
  async waitRoomMessage(from, text, timeout = 10000) {
    await this.page.waitForFunction(
      ([f, t]) =>
        [...document.querySelectorAll('#messages [data-test="message"]')].some(
          (e) => e.dataset.from === f && e.querySelector('.text')?.textContent === t,
        ),
      [from, text],
      { timeout },
    );
  }

  /** Pick `name` in the member list as the direct-message target and send `text`. */
  async sendDirect(name, text) {
    await this.page.click(`#members [data-test="member"][data-name="${name}"] [data-test="dm"]`);
    await this.page.fill('#direct-input', text);
    await this.page.click('#direct-send');
  }

  async waitDirect(from, text, timeout = 10000) {
    await this.page.waitForFunction(
      ([f, t]) =>
        [...document.querySelectorAll('#directs [data-test="direct"]')].some(
          (e) => e.dataset.from === f && e.querySelector('.text')?.textContent === t,
        ),
      [from, text],
      { timeout },
    );
  }

  /** A PNG of the page under client-test/artifacts/browser/; resolves with its path. */
  async screenshot(name) {
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, `${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  /** What a failed test prints: status, console and page errors. */
  async describe() {
    const st = await this.status().catch((e) => e.message);
    const events = await this.page.$$eval('#events li', (es) => es.map((e) => e.textContent)).catch(() => []);
    return [
      `--- page ${this.label}: ${JSON.stringify(st)}`,
      `events: ${JSON.stringify(events)}`,
      `console: ${JSON.stringify(this.console.slice(-30))}`,
      `page errors: ${JSON.stringify(this.pageErrors)}`,
    ].join('\n');
  }

  async close() {
    await this.context.close().catch(() => {});
  }
}

export async function openChat(browser, url, label, { viewport = { width: 1100, height: 620 } } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  const chat = new ChatPage(label, context, page);
  await page.goto(url, { waitUntil: 'load' });
  return chat;
}
