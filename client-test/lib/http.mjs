// Minimal HTTP client on node:http: no connection pooling (agent: false), full control over headers (Origin,
// Cookie), a hard timeout, and the raw body. Resolves to {status, headers, body, text, json}.

import http from 'node:http';

/**
 * @param {string} url
 * @param {object} [o]
 * @param {string} [o.method]
 * @param {Record<string,string>} [o.headers]
 * @param {string|Buffer} [o.body]
 * @param {number} [o.timeout] ms (default 5000)
 * @param {string} [o.localAddress] source address (e.g. 127.0.0.2: another peer address on loopback)
 */
export function httpRequest(url, o = {}) {
  const { method = 'GET', headers = {}, body, timeout = 5000, localAddress } = o;
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const hdrs = { ...headers };
    if (body !== undefined && hdrs['content-length'] === undefined) {
      hdrs['content-length'] = Buffer.byteLength(body);
    }
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method,
        headers: hdrs,
        agent: false,
        localAddress,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          const buf = Buffer.concat(chunks);
          const text = buf.toString('utf8');
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, headers: res.headers, body: buf, text, json });
        });
        res.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`HTTP ${method} ${url} timed out after ${timeout} ms`));
    }, timeout);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** POST a JSON (or raw string) body. */
export function postJson(url, body, { headers = {}, timeout } = {}) {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  return httpRequest(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: raw,
    timeout,
  });
}

/** True when the response's content-type is JSON. */
export function isJsonResponse(res) {
  return /application\/json/i.test(String(res.headers['content-type'] ?? ''));
}
