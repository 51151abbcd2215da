// Writes vectors.json: what Node's socket.io-parser and socket.io-msgpack-parser produce and accept.
//
// Run by hand after `npm ci` in client-test/ (the packages are resolved from there):
//   node engine/tests/vectors/sio/generate.mjs
// See README.md next to this file for the format.

import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "../../../../client-test/package.json"));
const parser = require("socket.io-parser");
const msgpackParser = require("socket.io-msgpack-parser");
const notepack = require("notepack.io");
const modules = join(here, "../../../../client-test/node_modules");
const version = (name) => JSON.parse(readFileSync(join(modules, name, "package.json"), "utf8")).version;
const versions = Object.fromEntries(["socket.io-parser", "socket.io-msgpack-parser", "notepack.io"].map((n) => [n, version(n)]));

const KINDS = ["connect", "disconnect", "event", "ack", "connect_error", "event", "ack"];
const TYPES = { connect: 0, disconnect: 1, event: 2, ack: 3, connect_error: 4 };
const hex = (b) => Buffer.from(b).toString("hex");

// A JavaScript value as tagged JSON: {"$bin": hex} for binary, {"$date": ms} for a Date, {"$int": digits} for an
// integer beyond 2^53 that MessagePack carries exactly (only with `exactInts`), {"$num": "Infinity"} for a
// non-finite number; undefined as JSON drops it.
function describe(v, exactInts) {
  if (v === undefined || v === null) return null;
  if (Buffer.isBuffer(v) || ArrayBuffer.isView(v)) return { $bin: hex(v) };
  if (v instanceof ArrayBuffer) return { $bin: hex(new Uint8Array(v)) };
  if (v instanceof Date) return { $date: v.getTime() };
  if (Array.isArray(v)) return v.map((x) => describe(x, exactInts));
  if (typeof v === "object") {
    const o = {};
    // defineProperty: an own `__proto__` key (JSON.parse makes one) stays a key.
    for (const k of Object.keys(v)) {
      if (v[k] !== undefined) Object.defineProperty(o, k, { value: describe(v[k], exactInts), enumerable: true, writable: true, configurable: true });
    }
    return o;
  }
  if (typeof v === "number" && !Number.isFinite(v)) return { $num: String(v) };
  if (exactInts && typeof v === "number" && Number.isInteger(v) && Math.abs(v) > 2 ** 53 && Math.abs(v) < 2 ** 64) {
    return { $int: BigInt(v).toString() };
  }
  return v;
}

function describePacket(p, exactInts) {
  const d = { kind: KINDS[p.type], nsp: p.nsp };
  if (p.id !== undefined) d.id = p.id;
  if (p.data !== undefined) d.data = describe(p.data, exactInts);
  return d;
}

// Packets in the key order the Node server builds them (it matters to MessagePack).
function packet(kind, nsp, data, id) {
  const type = TYPES[kind];
  switch (kind) {
    case "ack":
      return { id, type, data, nsp };
    case "disconnect":
      return { type, nsp };
    case "connect_error":
      if (data && data.message === "Invalid namespace") return { type, nsp, data };
      return { type, data, nsp };
    default: {
      const p = { type };
      if (data !== undefined) p.data = data;
      if (id !== undefined) p.id = id;
      p.nsp = nsp;
      return p;
    }
  }
}

const buf = (...bytes) => Buffer.from(bytes);
const date = new Date(1700000000123);
const cases = [
  ["connect with auth", "connect", "/", { token: "abc", n: 1 }],
  ["connect without auth", "connect", "/"],
  ["connect to a namespace", "connect", "/admin", { token: "x" }],
  ["connect answer", "connect", "/", { sid: "AbCdEfGhIjKlMnOpQrSt", pid: undefined }],
  ["connect answer with pid", "connect", "/chat", { sid: "AbCdEfGhIjKlMnOpQrSt", pid: "pid-123" }],
  ["connect error from middleware", "connect_error", "/", { message: "not authorized", data: { code: 401 } }],
  ["connect error invalid namespace", "connect_error", "/nope", { message: "Invalid namespace" }],
  ["disconnect", "disconnect", "/"],
  ["disconnect from a namespace", "disconnect", "/chat"],
  ["event", "event", "/", ["message", "hello"]],
  ["event with ack id", "event", "/", ["message", { a: 1 }], 7],
  ["event in a namespace with ack id", "event", "/chat", ["m", 1, 2.5, true, null], 12],
  ["event with a numeric name", "event", "/", [42, "x"]],
  ["event, empty args", "event", "/", ["ping"]],
  ["event, unicode", "event", "/", ["msg", "héllo wörld ✓ 😀 \u2028 \u0000 \u001f \"q\" \\"]],
  ["event, lone surrogates", "event", "/", ["msg", "\ud83d", "a\udc00b", { "\ud800": 1 }]],
  ["event, long string with a lone surrogate", "event", "/", ["msg", "x".repeat(40) + "\ud83d" + "y"]],
  ["event, string lengths", "event", "/", ["s", "a".repeat(31), "b".repeat(32), "c".repeat(255), "d".repeat(256)]],
  ["event, integers", "event", "/", ["n", 0, 1, -1, 127, 128, 255, 256, -32, -33, -128, -129, 65535, 65536, -32768, -32769, 4294967295, 4294967296, -2147483648, -2147483649, 9007199254740991, -9007199254740991]],
  ["event, large integers", "event", "/", ["n", 2 ** 53 + 2, 2 ** 60, -(2 ** 60), 2 ** 63, 1.8e19]],
  ["event, floats", "event", "/", ["f", 1.5, -0.25, 0.1 + 0.2, 1e-7, 1.5e300, -0, 5e-324]],
  ["event, a date", "event", "/", ["d", date]],
  ["event, nested objects", "event", "/", ["o", { a: { b: { c: [1, { d: "e" }] } }, "": 0, "k y": [] }]],
  ["event with binary", "event", "/", ["file", buf(1, 2, 3)]],
  ["event with nested binary", "event", "/", ["f", { a: buf(1), b: [buf(), { c: buf(255, 0) }] }, buf(9)]],
  ["event with binary and ack id", "event", "/chat", ["upload", { name: "x", data: buf(0xde, 0xad) }], 3],
  ["event with large binary", "event", "/", ["big", Buffer.alloc(300, 7)]],
  ["ack", "ack", "/", ["ok"], 1],
  ["ack, no args", "ack", "/", [], 0],
  ["ack in a namespace", "ack", "/chat", [{ status: "done" }, 2], 42],
  ["ack with binary", "ack", "/", [buf(4, 5), "x"], 9],
  ["ack with binary in a namespace", "ack", "/chat", [{ b: buf(1) }], 10],
];

const encode = [];
for (const [name, kind, nsp, data, id] of cases) {
  for (const which of ["default", "msgpack"]) {
    const p = packet(kind, nsp, data, id);
    const exactInts = which === "msgpack";
    const v = { name, parser: which, packet: describePacket(p, exactInts) };
    if (which === "default") {
      const out = new parser.Encoder().encode(p);
      v.text = out[0];
      v.attachments = out.slice(1).map(hex);
      const d = new parser.Decoder({ maxAttachments: 100 });
      d.on("decoded", (x) => (v.decoded = describePacket(x, false)));
      d.add(v.text);
      for (const b of out.slice(1)) d.add(b);
    } else {
      const out = new msgpackParser.Encoder().encode(p);
      v.hex = hex(out[0]);
      const d = new msgpackParser.Decoder();
      d.on("decoded", (x) => (v.decoded = describePacket(x, true)));
      d.add(out[0]);
    }
    encode.push(v);
  }
}

// Inputs to decode: a sequence of messages (text, or {bin: hex}) for the default parser, one hex message for
// MessagePack; Node's verdict and what it decoded.
const S = (...msgs) => msgs;
const B = (...bytes) => ({ bin: hex(bytes) });
const ph = (num) => `{"_placeholder":true,"num":${num}}`;
const defaultInputs = [
  S(""), S(" "), S("0"), S("0{}"), S(" {}"), S("\t{}"), S("0[]"), S('0"x"'), S("0null"), S("0/chat,"), S('0/chat,{"token":1}'),
  S("0/chat"), S("0/chat,1{}"), S("1"), S("1/chat,"), S("1{}"), S("1null"), S("1[]"),
  S("2"), S("2[]"), S('2["a"]'), S("2[1]"), S("2[1.5]"), S("2[null]"), S("2[true]"), S('2[["a"]]'), S('2["connect"]'),
  S('2["connect_error"]'), S('2["disconnect"]'), S('2["disconnecting"]'), S('2["newListener"]'), S('2["removeListener"]'),
  S('2["message"'), S("2{}"), S('2"a"'), S('21["a"]'), S('2 ["a"]'), S('2\u3000["a"]'), S('2\u00a0["a"]'), S('2 1["a"]'),
  S('21 ["a"]'), S('2/a,1["a"]'), S('2/a1["a"]'), S("2/a"), S('2/,["a"]'), S('2/chat,,["a"]'), S('2/chat, 3["a"]'),
  S('21["message",{}]]]xyz'), S('2["message"]x'), S('2["a"] '), S('2["a"]\n'), S('2 ["a"] \r\n'), S('2["a"]\u00a0'),
  S('2["\\ud83d"]'), S('2["a","\\udc00"]'), S('2["\\ud83d\\ude00"]'), S('2["a",1e400]'), S('2["a",-0]'), S("2['a']"),
  S('2["a",]'), S('2["a"]["b"]'), S('2["a\\x"]'), S('2["a\u0001"]'), S('2["a",01]'), S('2["a",.5]'), S('2["a",NaN]'),
  S('2["a",{"k":1,"k":2}]'), S('2["a",{"__proto__":{"x":1}}]'), S('2' + "[".repeat(100) + "]".repeat(100)),
  S('2["x",' + "[".repeat(120) + "]".repeat(120) + "]"),
  S("3"), S("3[]"), S("3{}"), S("31[]"), S("3/a,5[1,2]"), S("3 []"), S("3null"),
  S("4"), S('4"err"'), S("4{}"), S("4[]"), S('4{"message":"x","data":{}}'), S("4null"), S("41{}"),
  S("7"), S("8"), S("9[]"), S("a"), S("-1"), S("\u00e9"), S("\ud83d\ude00"), S("/"), S(","),
  S("5"), S('5-["a"]'), S('50-["a"]'), S(`51-["a",${ph(0)}]`, B(1)), S('5a-["a"]'), S('51["a"]'), S(`511-["a"]`),
  S(`51-["a",${ph(0)}]`), S(`5 1-["a",${ph(0)}]`, B(1)), S(`50x1-["a",${ph(0)}]`, B(1)), S(`51.0-["a",${ph(0)}]`, B(1)),
  S(`51e0-["a",${ph(0)}]`, B(1)), S(`5+1-["a",${ph(0)}]`, B(1)), S(`51.5-["a"]`), S(`5-1-["a"]`), S(`5Infinity-["a"]`),
  S(`510-["a",${ph(9)}]`, B(0), B(1), B(2), B(3), B(4), B(5), B(6), B(7), B(8), B(9)),
  S(`51-["connect",${ph(0)}]`, B(1)), S(`51-/a,3["a",${ph(0)}]`, B(1, 2)), S(`51-["a",${ph(1)}]`, B(1)),
  S(`51-["a",${ph(-1)}]`, B(1)), S(`51-["a",{"_placeholder":true,"num":"0"}]`, B(1)), S(`51-["a",{"_placeholder":true}]`, B(1)),
  S(`51-["a",{"_placeholder":"true","num":0}]`, B(1)), S(`51-["a",{"_placeholder":true,"num":0,"x":1}]`, B(1)),
  S(`52-["a",${ph(1)},${ph(1)}]`, B(1), B(2)), S(`51-["a"]`, B(1)), S(`51-["a",${ph(0)}]`, '2["b"]'), S(B(1)),
  S(`51-["a",${ph(0)}]`, B(1), B(2)), S(`51-["a",${ph(0)}]`, B(1), '2["b"]'), S(`51-["a",${ph(0)}]`, B(1), `51-["b",${ph(0)}]`, B(2)),
  S(`61-[${ph(0)}]`, B(1)), S(`61-/a,4[${ph(0)}]`, B()), S(`61-{}`), S(`61-7[{"a":[${ph(0)}]}]`, B(5)), S(`51-{}`),
  S(`51-["a",{"k":${ph(0)}}]`, B(1)), S(`51-["a",[${ph(0)},${ph(0)}]]`, B(1)),
];

// Accepted by Node, refused by the engine on purpose: [reason, input].
const defaultDeviations = [
  ["an id that Number() reads as NaN", S('2 1 2["a"]')],
  ["an id beyond 2^64", S("2" + "1".repeat(25) + '["a"]')],
  ["nesting beyond 128 levels", S('2["x",' + "[".repeat(200) + "]".repeat(200) + "]")],
  ["a placeholder index that is not an integer", S(`51-["a",{"_placeholder":true,"num":0.5}]`, B(1))],
];

const defaultDecode = defaultInputs.map((messages) => {
  const d = new parser.Decoder();
  const decoded = [];
  d.on("decoded", (x) => decoded.push(describePacket(x, false)));
  let error = null;
  for (const m of messages) {
    try {
      d.add(typeof m === "string" ? m : Buffer.from(m.bin, "hex"));
    } catch (e) {
      error = e.message;
      break;
    }
  }
  return { parser: "default", messages, refused: error !== null, error, decoded };
});
for (const [deviation, messages] of defaultDeviations) {
  const d = new parser.Decoder();
  let decoded = 0;
  d.on("decoded", () => decoded++);
  for (const m of messages) d.add(typeof m === "string" ? m : Buffer.from(m.bin, "hex"));
  if (decoded !== 1) throw new Error(`Node no longer accepts ${messages[0]}`);
  defaultDecode.push({ parser: "default", messages, deviation });
}

const np = (v) => notepack.encode(v);
const raw = (...bytes) => Buffer.from(bytes);
const msgpackInputs = [
  np({ type: 2, nsp: "/", data: ["a"] }), np({ type: 2, nsp: "/", data: [] }), np({ type: 2, nsp: "/", data: ["connect"] }),
  np({ type: 2, nsp: "/", data: [1] }), np({ type: 5, nsp: "/", data: ["a"] }), np({ type: -1, nsp: "/" }),
  np({ type: 2.5, nsp: "/", data: [] }), np({ type: "2", nsp: "/", data: [] }), np({ type: 2, nsp: 1, data: [] }),
  np({ type: 2, data: [] }), np({ type: 2, nsp: "/" }), np({ type: 2, nsp: "/", data: {} }), np({ type: 2, nsp: "/", data: "a" }),
  np({ type: 0, nsp: "/" }), np({ type: 0, nsp: "/", data: undefined }), np({ type: 0, nsp: "/", data: null }),
  np({ type: 0, nsp: "/", data: [] }), np({ type: 0, nsp: "/chat", data: { token: "t" } }), np({ type: 0, nsp: "/", data: "x" }),
  np({ type: 1, nsp: "/" }), np({ type: 1, nsp: "/", data: {} }), np({ type: 1, nsp: "/", data: null }),
  np({ type: 4, nsp: "/", data: "x" }), np({ type: 4, nsp: "/", data: { message: "m" } }), np({ type: 4, nsp: "/", data: 1 }),
  np({ type: 4, nsp: "/" }), np({ type: 3, nsp: "/", data: [], id: 1 }), np({ type: 3, nsp: "/", data: [] }),
  np({ type: 3, nsp: "/", data: [], id: 1.5 }), np({ type: 3, nsp: "/", data: [], id: "1" }), np({ type: 3, nsp: "/", data: [], id: null }),
  np({ type: 3, nsp: "/", data: {}, id: 1 }), np({ type: 2, nsp: "/", data: ["a"], id: 2 ** 40 }),
  np({ type: 2, nsp: "/", data: ["a"], extra: 1 }), np({ type: 2, nsp: "", data: ["a"] }), np({ type: 2, nsp: "chat", data: ["a"] }),
  np({ type: 2, nsp: "/", data: ["d", new Date(1700000000123)] }), np({ type: 2, nsp: "/", data: ["u", undefined, { k: undefined, j: 1 }] }),
  np({ type: 2, nsp: "/", data: ["ab", new Uint8Array([1, 2, 3]).buffer] }), np({ type: 2, nsp: "/", data: ["b", Buffer.from([1, 2])] }),
  np([1, 2]), np(5), np("abc"), np(null), np({}),
  raw(0xc1), raw(), raw(0x83), raw(0x80, 0x00), raw(0x81, 0xa4, 0x74, 0x79, 0x70, 0x65),
  // {type: 2.0 (float64), nsp: "/", data: []}
  Buffer.concat([raw(0x83, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xcb), Buffer.from(new Float64Array([2]).buffer).reverse(), raw(0xa3, 0x6e, 0x73, 0x70, 0xa1, 0x2f, 0xa4, 0x64, 0x61, 0x74, 0x61, 0x90)]),
  // {type: 0xcc 2, nsp: "/", data: []}
  raw(0x83, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xcc, 0x02, 0xa3, 0x6e, 0x73, 0x70, 0xa1, 0x2f, 0xa4, 0x64, 0x61, 0x74, 0x61, 0x90),
  // {type: undefined, nsp: "/", data: []}
  raw(0x83, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xd4, 0x00, 0x00, 0xa3, 0x6e, 0x73, 0x70, 0xa1, 0x2f, 0xa4, 0x64, 0x61, 0x74, 0x61, 0x90),
  // duplicate type: {type: 9, type: 2, nsp: "/", data: []}
  raw(0x84, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x09, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x02, 0xa3, 0x6e, 0x73, 0x70, 0xa1, 0x2f, 0xa4, 0x64, 0x61, 0x74, 0x61, 0x90),
  // nsp with invalid UTF-8 (Node decodes it with U+FFFD)
  raw(0x83, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x02, 0xa3, 0x6e, 0x73, 0x70, 0xa2, 0x2f, 0xff, 0xa4, 0x64, 0x61, 0x74, 0x61, 0x91, 0xa1, 0x61),
  // trailing byte
  Buffer.concat([np({ type: 2, nsp: "/", data: ["a"] }), raw(0x00)]),
  // truncated
  np({ type: 2, nsp: "/", data: ["abcdef"] }).subarray(0, 20),
  // data with a fixext 1 of type 5 (Node: [5, <Buffer>])
  raw(0x83, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x02, 0xa3, 0x6e, 0x73, 0x70, 0xa1, 0x2f, 0xa4, 0x64, 0x61, 0x74, 0x61, 0x92, 0xa1, 0x61, 0xc0),
];

const msgpackDecode = msgpackInputs.map((bytes) => {
  const d = new msgpackParser.Decoder();
  let decoded = null;
  let error = null;
  d.on("decoded", (x) => (decoded = describePacket(x, true)));
  try {
    d.add(bytes);
  } catch (e) {
    error = e.message;
  }
  return { parser: "msgpack", hex: hex(bytes), refused: error !== null, error, decoded: decoded ? [decoded] : [] };
});

const msgpackDeviations = [
  ["a negative ack id", np({ type: 3, nsp: "/", data: [], id: -1 })],
  ["nesting beyond 128 levels", Buffer.concat([raw(0x83, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x02, 0xa3, 0x6e, 0x73, 0x70, 0xa1, 0x2f, 0xa4, 0x64, 0x61, 0x74, 0x61, 0x92, 0xa1, 0x61), Buffer.alloc(200, 0x91), raw(0xc0)])],
];
for (const [deviation, bytes] of msgpackDeviations) {
  new msgpackParser.Decoder().add(bytes); // throws if Node no longer accepts it
  msgpackDecode.push({ parser: "msgpack", hex: hex(bytes), deviation });
}

const out = { versions, encode, decode: [...defaultDecode, ...msgpackDecode] };
writeFileSync(join(here, "vectors.json"), JSON.stringify(out, null, 1) + "\n");
console.log(`wrote ${encode.length} encode vectors and ${out.decode.length} decode inputs`);
