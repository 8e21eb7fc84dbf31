// Serves the official Web Chat bundle and the page in webchat/ from 127.0.0.1, so a browser
// can talk to a bot behind offline-directline (start-peer.js).
//
// As a program (for trying a bot by hand in a browser on this machine):
//   node webchat-server.mjs --dl http://127.0.0.1:PORT/directline [--port 0]
// prints one line, `webchat page on http://127.0.0.1:PORT/?dl=...`, and serves until stopped.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The files the page needs, by URL path. Nothing else is served. */
export const FILES = {
  '/': [path.join(here, 'webchat', 'index.html'), 'text/html; charset=utf-8'],
  // The prebuilt full bundle (React, Adaptive Cards and markdown included) of botframework-webchat.
  '/webchat.js': [path.join(here, 'node_modules', 'botframework-webchat', 'dist', 'webchat.js'), 'text/javascript; charset=utf-8'],
};

/** Starts the server on 127.0.0.1 (`port` 0 picks a free one); resolves to `{ server, origin }`. */
export async function serveWebChat(port = 0) {
  for (const [, [file]] of Object.entries(FILES)) {
    if (!fs.existsSync(file)) throw new Error(`${file} is missing: run npm ci in ${here}`);
  }
  const server = http.createServer((req, res) => {
    const entry = FILES[new URL(req.url, 'http://127.0.0.1').pathname];
    if (!entry || req.method !== 'GET') {
      res.writeHead(404).end();
      return;
    }
    const [file, type] = entry;
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

/** The page's URL for a Direct Line base URL. */
export function pageUrl(origin, directLine, user = 'webchat-user') {
  return `${origin}/?dl=${encodeURIComponent(directLine)}&user=${encodeURIComponent(user)}`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name, fallback) => {
    const i = args.indexOf(name);
    return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
  };
  const dl = opt('--dl', 'http://127.0.0.1:3000/directline');
  const { server, origin } = await serveWebChat(Number(opt('--port', '0')));
  console.log(`webchat page on ${pageUrl(origin, dl)}`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
