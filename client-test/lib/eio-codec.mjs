// Engine.IO / socket.io wire formats for the raw protocol tests: polling payloads (v4 record separator, v3 length
// prefixes, v3 binary payloads), socket.io packet text parsed into fields, and the normalisation that lets two
// servers' packets be compared (ids and timestamps differ by nature, everything else must not).

const SEP = '\x1e';

/** Encode packets (strings, or Buffers for binary messages) into a polling request body. */
export function encodePayload(packets, eio = 4) {
  const enc = packets.map((p) => {
    if (!Buffer.isBuffer(p)) return p;
    return eio === 3 ? `b4${p.toString('base64')}` : `b${p.toString('base64')}`;
  });
  if (eio === 3) return enc.map((p) => `${p.length}:${p}`).join('');
  return enc.join(SEP);
}

/**
 * Decode a text polling payload into packets: strings, and Buffers for binary messages (`b<base64>` in v4,
 * `b4<base64>` in v3). Throws on a malformed v3 length prefix.
 */
export function decodePayloadText(text, eio = 4) {
  if (text.length === 0) return [];
  let parts;
  if (eio === 3) {
    parts = [];
    let i = 0;
    while (i < text.length) {
      const colon = text.indexOf(':', i);
      const n = Number(text.slice(i, colon));
      if (colon < 0 || !Number.isInteger(n) || n < 0) throw new Error(`bad v3 payload at ${i}: ${text}`);
      parts.push(text.slice(colon + 1, colon + 1 + n));
      i = colon + 1 + n;
    }
  } else {
    parts = text.split(SEP);
  }
  return parts.map((p) => {
    if (eio === 3 && p.startsWith('b4')) return Buffer.from(p.slice(2), 'base64');
    if (eio !== 3 && p.startsWith('b')) return Buffer.from(p.slice(1), 'base64');
    return p;
  });
}

/**
 * Decode a v3 binary polling payload (application/octet-stream): per packet a marker byte (0 string, 1 binary),
 * the length as decimal digit bytes, 0xFF, then the packet; binary packets keep their Engine.IO type byte, which
 * is stripped here so that a binary message decodes to the same Buffer as over v4.
 */
export function decodeV3BinaryPayload(buf) {
  const out = [];
  let i = 0;
  while (i < buf.length) {
    const isString = buf[i] === 0;
    let j = i + 1;
    let len = 0;
    while (j < buf.length && buf[j] !== 0xff) len = len * 10 + buf[j++];
    const start = j + 1;
    const chunk = buf.subarray(start, start + len);
    out.push(isString ? chunk.toString('utf8') : Buffer.from(chunk.subarray(1)));
    i = start + len;
  }
  return out;
}

/**
 * Parse a socket.io packet (the text after the Engine.IO `4`) into {type, attachments, nsp, id, data}; `data` is the
 * parsed JSON (undefined when absent, the raw rest when it is not JSON). Lenient on purpose: it describes what a
 * server sent, it does not judge it.
 */
export function parseSio(text) {
  const p = { type: Number(text[0]) };
  let i = 1;
  if (p.type === 5 || p.type === 6) {
    const dash = text.indexOf('-', i);
    p.attachments = Number(text.slice(i, dash));
    i = dash + 1;
  }
  if (text[i] === '/') {
    const comma = text.indexOf(',', i);
    const end = comma < 0 ? text.length : comma;
    p.nsp = text.slice(i, end);
    i = comma < 0 ? end : end + 1;
  } else {
    p.nsp = '/';
  }
  let id = '';
  while (i < text.length && text[i] >= '0' && text[i] <= '9') id += text[i++];
  if (id) p.id = Number(id);
  if (i < text.length) {
    try {
      p.data = JSON.parse(text.slice(i));
    } catch {
      p.data = text.slice(i);
    }
  }
  return p;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/**
 * Normalise what differs between two conforming servers: the ids given (socket and session ids seen in the
 * scenario) become `<sid>`, any `"sid":"..."` value too, UUIDs become `<uuid>`, `"ts":<number>` becomes
 * `"ts":"<ts>"`, the `sid` of an open packet too. Buffers become `<bin:hex>`.
 */
export function normalise(pkt, ids = []) {
  if (Buffer.isBuffer(pkt)) return `<bin:${pkt.toString('hex')}>`;
  let s = String(pkt);
  for (const id of ids) if (id) s = s.split(id).join('<sid>');
  return s
    .replace(/"sid":"[^"]*"/g, '"sid":"<sid>"')
    .replace(UUID, '<uuid>')
    .replace(/"ts":\d+/g, '"ts":"<ts>"');
}

/**
 * A packet as comparable data: Engine.IO type and, for messages, the parsed socket.io packet (JSON key order does
 * not matter to clients, so it does not matter here), after normalisation.
 */
export function describePacket(pkt, ids = []) {
  if (Buffer.isBuffer(pkt)) return { binary: pkt.toString('hex') };
  const s = normalise(pkt, ids);
  if (s[0] !== '4') return { eio: s };
  return { sio: parseSio(s.slice(1)) };
}

/** Node's id format: 20 characters of base64url. */
export const NODE_ID_RE = /^[A-Za-z0-9_-]{20}$/;
