// A small same-origin gateway for the built dashboard: serves dist/ui/browser (any unknown page gets index.html, so
// the Angular router takes over) and streams API calls to the services by gateway/routes.mjs, as nginx does in
// docker-compose. The browser tests run the dashboard behind it.
//
//   node gateway/serve.mjs --port 4300 [--root dist/ui/browser]   (service URLs: HERALD_*_URL, see routes.mjs)
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { serviceFor, targetsFromEnv } from './routes.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '4300' },
    host: { type: 'string', default: '127.0.0.1' },
    root: { type: 'string', default: path.join(here, '..', 'dist', 'ui', 'browser') },
  },
});
const root = path.resolve(values.root);
const targets = targetsFromEnv();
// The dashboard's runtime config (/config.json): HERALD_UI_CONFIG (JSON) when set, as the container writes its own
// at start; otherwise the file in the build (public/config.json, the development provider's).
const runtimeConfig = process.env.HERALD_UI_CONFIG ? JSON.stringify(JSON.parse(process.env.HERALD_UI_CONFIG)) : null;
const UNHASHED = new Set(['index.html', 'config.json']); // never cached: they change without changing their name

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.ico': 'image/x-icon',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

function proxy(service, req, res) {
  const upstream = http.request(new URL(req.url, targets[service]), { method: req.method, headers: req.headers }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res); // streamed as it comes: the SSE stream is never buffered
  });
  upstream.on('error', () => {
    if (!res.headersSent) {
      res.writeHead(502, { 'Content-Type': 'application/json' });
    }
    res.end(JSON.stringify({ error: 'BadGateway', detail: `The ${service} service does not answer.` }));
  });
  res.on('close', () => {
    if (!res.writableFinished) {
      upstream.destroy(); // the browser left mid-answer (e.g. closed a stream): close the upstream too
    }
  });
  req.pipe(upstream);
}

async function serveFile(req, res) {
  const urlPath = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  if (urlPath === '/config.json' && runtimeConfig !== null) {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : runtimeConfig);
    return;
  }
  let file = path.join(root, path.normalize(urlPath));
  if (!file.startsWith(root)) {
    res.writeHead(400).end();
    return;
  }
  let info = await stat(file).catch(() => null);
  if (!info || info.isDirectory()) {
    file = path.join(root, 'index.html'); // a dashboard page: the router decides
    info = await stat(file).catch(() => null);
  }
  if (!info) {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('The dashboard is not built (npm run build).');
    return;
  }
  const type = TYPES[path.extname(file)] ?? 'application/octet-stream';
  const cache = UNHASHED.has(path.basename(file)) ? 'no-cache' : 'public, max-age=31536000, immutable';
  res.writeHead(200, { 'Content-Type': type, 'Content-Length': info.size, 'Cache-Control': cache });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(file).pipe(res);
}

const server = http.createServer((req, res) => {
  const service = serviceFor(req.method ?? 'GET', req.url ?? '/');
  if (service) {
    proxy(service, req, res);
  } else if (req.method === 'GET' || req.method === 'HEAD') {
    void serveFile(req, res);
  } else {
    res.writeHead(405, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: 'MethodNotAllowed', detail: 'Not an API path.' }));
  }
});
server.listen(Number(values.port), values.host, () => {
  console.log(`herald dashboard on http://${values.host}:${values.port}/ (files: ${root})`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)) && server.closeAllConnections());
}
