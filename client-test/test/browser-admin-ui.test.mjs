// The real socket.io Admin UI (@socket.io/admin-ui 0.5.1 ui/dist, served by the server at /admin-ui/ with local
// fonts) in real Chromium against two Rust replicas on one Redis (issue 18): log in, the dashboard counts both
// servers and every client, the servers page names both replicas, the sockets page lists the sockets of both with
// their rooms, and disconnecting a socket from the page disconnects it on its replica. Screenshots are kept under
// client-test/artifacts/browser/.

import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { CREDENTIALS, adminArgs } from '../lib/admin-ui.mjs';
import { launchChromium, screenshot } from '../lib/chromium.mjs';
import { ack, waitDisconnect } from '../lib/client.mjs';
import { startRust } from '../lib/cluster.mjs';
import { e2e } from '../lib/harness.mjs';
import { startRedis } from '../lib/redis.mjs';

describe('the real Admin UI in Chromium against two Rust replicas', () => {
  let browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  /** Wait until the text of the page's main area matches `re`; the failure says what was shown. */
  async function waitText(page, re, timeout = 10000) {
    try {
      await page.waitForFunction(
        ([src, flags]) => new RegExp(src, flags).test(document.querySelector('main')?.innerText ?? ''),
        [re.source, re.flags],
        { timeout },
      );
    } catch (err) {
      const shown = await page.locator('main').innerText().catch(() => '');
      throw new Error(`${re} not shown within ${timeout} ms; the page shows:\n${shown.slice(0, 1500)}\n${err.message}`);
    }
  }

  e2e('log in, dashboard, servers, sockets with rooms, disconnect from the page', { timeout: 60000 }, async (t, s) => {
    const redis = await startRedis();
    s.defer(() => redis.destroy());
    const a = await startRust(s, redis, { nodeId: 'rust-a', extra: adminArgs() });
    const b = await startRust(s, redis, { nodeId: 'rust-b', extra: adminArgs() });
    const alice = await s.connect(a.url, { auth: { name: 'alice' } });
    const amy = await s.connect(a.url, { auth: { name: 'amy' } });
    const bob = await s.connect(b.url, { auth: { name: 'bob' } });
    await ack(alice, 'join', 'alpha');
    await ack(amy, 'join', 'alpha');
    await ack(bob, 'join', 'beta');

    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    s.defer(() => context.close());
    const page = await context.newPage();
    const offline = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(a.url) && !r.url().startsWith('data:')) offline.push(r.url());
    });
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));

    // Log in through the UI's connection dialog.
    await page.goto(`${a.url}/admin-ui/`);
    await page.getByLabel('Server URL').fill(a.url);
    await page.getByLabel('Username').fill(CREDENTIALS.username);
    await page.getByLabel('Password').fill(CREDENTIALS.password);
    await page.getByRole('button', { name: /connect/i }).click();
    await page.getByText(/^connected$/i).first().waitFor({ timeout: 10000 });

    // Dashboard: both servers healthy, every client of both (3 application sockets + this page's own connection).
    await waitText(page, /HEALTHY\s+2\s/);
    await waitText(page, /WebSocket\s+4\s/);
    await waitText(page, /\/\s+3\s+\/admin\s+1/);
    await screenshot(page, 'admin-ui-dashboard');

    await page.getByRole('navigation').getByRole('link', { name: 'Servers' }).click();
    await waitText(page, /rust-a/);
    await waitText(page, /rust-b/);
    await screenshot(page, 'admin-ui-servers');

    // Sockets of both replicas, and their rooms.
    await page.getByRole('navigation').getByRole('link', { name: 'Sockets' }).click();
    for (const c of [alice, amy, bob]) await waitText(page, new RegExp(c.id));
    await screenshot(page, 'admin-ui-sockets');
    for (const [c, room] of [[alice, 'alpha'], [bob, 'beta']]) {
      await page.locator('.v-data-table tbody td:visible').filter({ hasText: c.id }).click();
      await waitText(page, new RegExp(`${c.id}[\\s\\S]*${room}`));
      await screenshot(page, `admin-ui-socket-${room}`);
      await page.goBack();
      await waitText(page, new RegExp(c.id));
    }

    // Disconnect bob (on replica B) from the page (the button's click also opens the socket's details, where its
    // status turns to disconnected and its room is gone).
    const bobId = bob.id;
    const row = page.locator('.v-data-table tbody tr:visible').filter({ hasText: bobId });
    await row.getByRole('button').click();
    assert.equal(await waitDisconnect(bob, 10000), 'io server disconnect');
    await waitText(page, /Status\s+disconnected[\s\S]*Rooms\s+ID\s+\S+\s+Rows/i);
    await screenshot(page, 'admin-ui-disconnected-socket');
    await page.getByRole('navigation').getByRole('link', { name: 'Sockets' }).click();
    await page.locator('.v-data-table tbody tr:visible').filter({ hasText: bobId }).waitFor({ state: 'detached', timeout: 10000 });
    await screenshot(page, 'admin-ui-after-disconnect');
    assert.equal(alice.connected && amy.connected, true, 'only bob was disconnected');

    assert.deepEqual(offline, [], 'the page loaded something from outside the server');
    assert.deepEqual(pageErrors, []);
  });
});
