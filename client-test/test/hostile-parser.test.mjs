// Issue 13, parser differences from Node: a lone surrogate is forwarded (what `JSON.stringify` gives for half an
// emoji), trailing garbage after a packet is refused, an oversized frame and invalid UTF-8 close the WebSocket with
// `ws`'s codes (1009, 1007), and a reset connection counts as `transport close`, as Node names it.

import assert from 'node:assert/strict';
import net from 'node:net';
import { describe } from 'node:test';
import { ack } from '../lib/client.mjs';
import { e2e, sharedServer } from '../lib/harness.mjs';
import { metricValue } from '../lib/metrics.mjs';
import { waitUntil, withTimeout } from '../lib/wait.mjs';

describe('parser differences from Node (issue 13)', () => {
  const srv = sharedServer({ args: ['--max-payload', '1000'] });

  e2e('a lone surrogate in a message is forwarded unchanged', async (t, s) => {
    const a = await s.connect(srv().url);
    const { raw } = await s.rawSocketIo(srv().url);
    assert.equal((await ack(a, 'join', 'surrogate')).ok, true);
    raw.send('421["join","surrogate"]');
    await raw.next('431[');
    const received = new Promise((resolve) => a.once('message', resolve));
    // The exact text JSON.stringify gives for half an emoji.
    raw.send('422["message",{"room":"surrogate","data":"half \\ud83d"}]');
    const answer = await raw.next('432[');
    assert.equal(JSON.parse(answer.slice(3))[0].ok, true, answer);
    const got = await withTimeout(received, 5000, 'the message with the lone surrogate');
    assert.equal(got.data, 'half \ud83d');
  });

  e2e('trailing garbage after a packet closes the connection, as Node refuses it', async (t, s) => {
    const { raw } = await s.rawSocketIo(srv().url);
    raw.send('421["message",{"room":"r","data":1}]]]xyz');
    const closed = await withTimeout(raw.closed, 5000, 'the connection to close');
    assert.equal(closed.code, 1005);
  });

  e2e('an oversized WebSocket message closes with 1009, invalid UTF-8 with 1007', async (t, s) => {
    const big = await s.rawSocketIo(srv().url);
    big.raw.send(`42["message","${'x'.repeat(2000)}"]`);
    assert.equal((await withTimeout(big.raw.closed, 5000, 'close after an oversized message')).code, 1009);
    const bad = await s.rawSocketIo(srv().url);
    // A text frame whose payload is not UTF-8: send the frame bytes by hand through the socket.
    const payload = Buffer.from([0x34, 0x32, 0xff, 0xfe]);
    const mask = Buffer.from([1, 2, 3, 4]);
    const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
    bad.raw.ws._socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
    assert.equal((await withTimeout(bad.raw.closed, 5000, 'close after invalid UTF-8')).code, 1007);
  });

  e2e('a reset TCP connection is a "transport close"', async (t, s) => {
    const before = (await metricValue(srv().adminUrl, 'sio_disconnections_total', { reason: 'transport close' })) ?? 0;
    const errorsBefore =
      (await metricValue(srv().adminUrl, 'sio_disconnections_total', { reason: 'transport error' })) ?? 0;
    const { raw } = await s.rawSocketIo(srv().url);
    const sock = raw.ws._socket;
    assert.ok(sock instanceof net.Socket);
    sock.resetAndDestroy();
    await waitUntil(
      async () =>
        ((await metricValue(srv().adminUrl, 'sio_disconnections_total', { reason: 'transport close' })) ?? 0) > before,
      { timeout: 5000, what: 'a "transport close" disconnection' },
    );
    assert.equal(
      (await metricValue(srv().adminUrl, 'sio_disconnections_total', { reason: 'transport error' })) ?? 0,
      errorsBefore,
      'a reset is not a transport error',
    );
  });
});
