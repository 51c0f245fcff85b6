// Which service answers which API path: the one routing table of the dashboard's origin.
// The Angular dev server (proxy.conf.mjs) and the test gateway (serve.mjs) use it as it is; nginx
// (deploy/nginx/herald-ui.conf) and the load balancer (deploy/cloudformation/herald.yaml) spell the same rules, and
// tests/ops/test_gateway.py checks that they agree with this file.

/** Default addresses of the services, as `make dev` starts them (SPEC.md). */
export const DEFAULT_TARGETS = {
  campaign: 'http://127.0.0.1:8001',
  template: 'http://127.0.0.1:8002',
  analytics: 'http://127.0.0.1:8003',
};

/**
 * First match wins. Analytics owns a campaign's statistics, its live stream, its delivery report and the read of its
 * recipient list (`GET /campaigns/{id}/recipients?state=…`); the campaign service owns every other `/campaigns` path, including
 * `POST /campaigns/{id}/recipients` (the upload), which is why that rule names its methods.
 */
export const ROUTES = [
  { service: 'analytics', pattern: /^\/campaigns\/[^/]+\/(stats|stream|report)$/ },
  { service: 'analytics', methods: ['GET', 'HEAD'], pattern: /^\/campaigns\/[^/]+\/recipients$/ },
  { service: 'campaign', pattern: /^\/campaigns(\/.*)?$/ },
  { service: 'campaign', pattern: /^\/suppressions(\/.*)?$/ },
  { service: 'campaign', pattern: /^\/audit$/ },
  { service: 'campaign', pattern: /^\/sending-policy$/ },
  { service: 'campaign', pattern: /^\/reputation$/ },
  { service: 'campaign', pattern: /^\/webhooks(\/.*)?$/ },
  { service: 'campaign', pattern: /^\/u\/.+$/ },
  { service: 'template', pattern: /^\/templates(\/.*)?$/ },
  { service: 'template', pattern: /^\/render$/ },
];

/** The service that answers `method path` (the path without its query string), or null for the dashboard's files. */
export function serviceFor(method, path) {
  const bare = path.split('?')[0];
  for (const route of ROUTES) {
    if (route.pattern.test(bare) && (!route.methods || route.methods.includes(method.toUpperCase()))) {
      return route.service;
    }
  }
  return null;
}

/** Service base URLs from the environment (HERALD_CAMPAIGN_URL, …), else the defaults. */
export function targetsFromEnv(env = process.env) {
  return {
    campaign: env.HERALD_CAMPAIGN_URL || DEFAULT_TARGETS.campaign,
    template: env.HERALD_TEMPLATE_URL || DEFAULT_TARGETS.template,
    analytics: env.HERALD_ANALYTICS_URL || DEFAULT_TARGETS.analytics,
  };
}
