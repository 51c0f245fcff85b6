// The Angular dev server's proxy (`make ui`): the dashboard and the APIs on one origin, routed by gateway/routes.mjs.
// Service addresses: HERALD_CAMPAIGN_URL, HERALD_TEMPLATE_URL, HERALD_ANALYTICS_URL (default: `make dev`'s ports).
import http from 'node:http';

import { ROUTES, serviceFor, targetsFromEnv } from './gateway/routes.mjs';

const targets = targetsFromEnv();

/** Forwards one request to `base` and resolves once the answer has been streamed back. */
function forward(base, req, res) {
  return new Promise((resolve) => {
    const upstream = http.request(new URL(req.url, base), { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
      answer.on('end', resolve);
    });
    upstream.on('error', () => {
      if (!res.headersSent) {
        res.writeHead(502, { 'Content-Type': 'application/json' });
      }
      res.end(JSON.stringify({ error: 'BadGateway', detail: `${base} does not answer.` }));
      resolve();
    });
    req.pipe(upstream);
  });
}

// Vite matches a proxy entry on the path alone, so a rule that depends on the method (GET …/recipients is analytics',
// POST …/recipients the campaign service's) forwards the other methods itself in `bypass`.
const config = {};
for (const route of ROUTES) {
  const key = route.pattern.source.replace(/\$$/, '(\\?.*)?$');
  config[key] = {
    target: targets[route.service],
    changeOrigin: false,
    ...(route.methods
      ? {
          bypass: async (req, res) => {
            const service = serviceFor(req.method ?? 'GET', req.url ?? '/');
            if (service === route.service) {
              return undefined; // proxied by this entry
            }
            await forward(targets[service], req, res);
            return req.url;
          },
        }
      : {}),
  };
}

export default config;
