// What the page connects to, from its own address. Query parameters:
//   server=URL        socket.io server origin (default: the page's own origin)
//   path=/p/socket.io Engine.IO path (default: `socket.io` next to the page, e.g. /wsk/socket.io for a page
//                     served at /wsk/ behind a prefix proxy; /socket.io when `server` is given)
//   transports=polling | websocket | polling,websocket   (default: polling, then the upgrade to WebSocket)
//   credentials=0     no cookies on cross-origin requests (needed with `--cors-origin '*'`; default: sent, so that
//                     a sticky proxy's cookie reaches it from another origin of the same site)
//   name=Ada          the name to connect with (else the last one used here, else a guest name)
//   room=lobby        a room to join once connected

const TRANSPORTS = new Set(['polling', 'websocket']);

/**
 * @param {Location | URL} location the page's address
 * @returns {{url: string, io: object, name: string | null, room: string | null, problems: string[]}}
 */
export function optionsFrom(location) {
  const q = new URLSearchParams(location.search);
  const problems = [];
  const server = q.get('server');
  let url = location.origin;
  if (server) {
    try {
      url = new URL(server).origin;
    } catch {
      problems.push(`server=${server} is not a URL; using ${url}`);
    }
  }
  const dir = location.pathname.replace(/[^/]*$/, '');
  let path = q.get('path') ?? (server ? '/socket.io' : `${dir}socket.io`);
  if (!path.startsWith('/')) path = `/${path}`;
  const io = {
    path,
    withCredentials: q.get('credentials') !== '0',
    // The page reconnects with socket.io-client's defaults (1 s growing to 5 s, randomised), as an application would.
  };
  const transports = q.get('transports');
  if (transports) {
    const list = transports.split(',').map((t) => t.trim()).filter((t) => TRANSPORTS.has(t));
    if (list.length) io.transports = list;
    else problems.push(`transports=${transports} names no transport (polling, websocket); using the default`);
  }
  return { url, io, name: q.get('name'), room: q.get('room'), problems };
}
