// Herald's development identity provider: a real OpenID Connect provider (the npm package `oidc-provider`) on
// 127.0.0.1, with seeded people per tenant and role, so the dashboard signs in locally exactly as it does against
// Cognito or another provider in production (authorization code + PKCE, refresh tokens, sign-out).
//
//   node ui/dev-oidc/server.mjs [--port 9010] [--dashboard http://127.0.0.1:4200 ...]
//
// The API access tokens it issues are RS256 JWTs for the audience `herald-api` with the claims `tenant_id` and
// `roles` (Herald's default claim names), signed by a key published at /jwks: the services verify them with
// HERALD_JWKS_URL like any other provider's. Once listening it prints one JSON line: its issuer, JWKS URL, client id
// and the seeded users with their passwords.
//
// DEVELOPMENT ONLY: the passwords below are public, the signing key and cookie keys live in memory. It binds to
// loopback and refuses to start when HERALD_ENV=prod.
import { generateKeyPairSync, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

import { findUser, loginPage, SEEDED_USERS } from './users.mjs';

if (process.env.HERALD_ENV === 'prod') {
  console.error('dev-oidc: the development identity provider has public passwords; HERALD_ENV=prod refuses it');
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.HERALD_DEV_OIDC_PORT ?? '9010' },
    host: { type: 'string', default: '127.0.0.1' },
    // Origins of the dashboards that may sign in here (their /sign-in/callback and / are registered).
    dashboard: { type: 'string', multiple: true, default: ['http://127.0.0.1:4200', 'http://localhost:4200'] },
    // Lifetimes in seconds: short access tokens exercise the dashboard's refresh; tests shorten them further.
    'access-token-ttl': { type: 'string', default: '600' },
    'session-ttl': { type: 'string', default: String(12 * 3600) },
  },
});
if (!['127.0.0.1', 'localhost', '::1'].includes(values.host)) {
  console.error('dev-oidc: binds to loopback only (it is a development provider with public passwords)');
  process.exit(2);
}

export const CLIENT_ID = 'herald-dashboard';
const API_RESOURCE = 'urn:herald:api'; // the resource indicator of Herald's APIs
const API_AUDIENCE = 'herald-api'; // HERALD_JWT_AUDIENCE's default
const API_SCOPE = 'herald';
const issuer = `http://${values.host}:${values.port}`;
const accessTokenTtl = Number(values['access-token-ttl']);
const sessionTtl = Number(values['session-ttl']);

// A fresh signing key per start: the services fetch the key set again when they meet an unknown `kid`.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: `dev-${randomUUID()}`, use: 'sig', alg: 'RS256' };

const dashboards = values.dashboard.map((origin) => origin.replace(/\/$/, ''));
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: CLIENT_ID,
      token_endpoint_auth_method: 'none', // a browser app: public client, PKCE required
      application_type: 'web',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: dashboards.map((origin) => `${origin}/sign-in/callback`),
      post_logout_redirect_uris: dashboards.map((origin) => `${origin}/sign-in`),
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  pkce: { required: () => true },
  findAccount: (_ctx, id) => {
    const user = SEEDED_USERS.find((u) => u.sub === id);
    return user ? { accountId: id, claims: () => ({ sub: id, email: user.email, name: user.name }) } : undefined;
  },
  claims: { openid: ['sub'], email: ['email'], profile: ['name'] },
  scopes: ['openid', 'offline_access', 'email', 'profile', API_SCOPE],
  features: {
    devInteractions: { enabled: false }, // ours below checks passwords; the built-in one admits anybody
    rpInitiatedLogout: { enabled: true, logoutSource },
    revocation: { enabled: true }, // sign-out revokes the refresh token; an administrator may revoke a grant
    resourceIndicators: {
      enabled: true,
      // The dashboard names no resource: its tokens are for Herald's APIs, including those a refresh issues.
      defaultResource: () => API_RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, indicator) => {
        if (indicator !== API_RESOURCE) throw new errors.InvalidTarget();
        return {
          scope: API_SCOPE,
          audience: API_AUDIENCE,
          accessTokenTTL: accessTokenTtl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  // The claims the services map (HERALD_JWT_TENANT_CLAIM, HERALD_JWT_ROLES_CLAIM), in the API access token.
  extraTokenClaims: (_ctx, token) => {
    if (token.kind !== 'AccessToken') return undefined;
    const user = SEEDED_USERS.find((u) => u.sub === token.accountId);
    return user ? { tenant_id: user.tenant, roles: [user.role] } : undefined;
  },
  // A browser client gets a refresh token without the offline_access + prompt=consent ceremony: it is first-party.
  issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  ttl: {
    AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? accessTokenTtl,
    IdToken: accessTokenTtl,
    RefreshToken: sessionTtl,
    Session: sessionTtl,
    Grant: sessionTtl,
    Interaction: 600,
    AuthorizationCode: 60,
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  renderError: (ctx, out) => {
    ctx.type = 'html';
    ctx.body = loginPage({ title: 'Sign-in error', error: `${out.error}: ${out.error_description ?? ''}` });
  },
});
provider.proxy = false;

async function logoutSource(ctx, form) {
  // Herald's dashboard signs out without a confirmation page: submit the provider's own form at once.
  ctx.body = `<!doctype html><html><head><title>Signing out</title></head><body>${form}
<script nonce="${ctx.state?.cspNonce ?? ''}">document.forms[0].insertAdjacentHTML('beforeend','<input type="hidden" name="logout" value="yes">');document.forms[0].submit();</script>
<noscript><button form="op.logoutForm" name="logout" value="yes">Sign out</button></noscript></body></html>`;
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > 16_384) reject(new Error('form too large'));
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

function sameSecret(given, expected) {
  const a = Buffer.from(given ?? '');
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function send(res, status, html) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html);
}

/** The login prompt (a form that checks the seeded passwords) and the consent prompt (granted: first-party). */
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params } = details;
  if (prompt.name === 'login') {
    if (req.method === 'GET') {
      send(res, 200, loginPage({ action: `/interaction/${uid}`, email: params.login_hint ?? '' }));
      return;
    }
    const form = await readForm(req);
    const user = findUser(form.get('email'));
    if (!user || !sameSecret(form.get('password'), user.password)) {
      const page = loginPage({ action: `/interaction/${uid}`, email: form.get('email') ?? '', error: 'Wrong email or password.' });
      send(res, 401, page);
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: user.sub } }, { mergeWithLastSubmission: false });
    return;
  }
  // consent: the dashboard is Herald's own client, so the grant covers what it asked for without a question.
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  const { pathname } = new URL(req.url, issuer);
  if (pathname === '/favicon.ico') {
    res.writeHead(204).end(); // browsers ask for it on the login page
    return;
  }
  if (/^\/interaction\/[\w-]+$/.test(pathname)) {
    interaction(req, res).catch((error) => {
      send(res, 400, loginPage({ title: 'Sign-in error', error: `${error.name}: ${error.message}. Start again from the dashboard.` }));
    });
    return;
  }
  callback(req, res);
});

server.listen(Number(values.port), values.host, () => {
  const report = {
    issuer,
    jwksUrl: `${issuer}/jwks`,
    clientId: CLIENT_ID,
    audience: API_AUDIENCE,
    scope: `openid profile email offline_access ${API_SCOPE}`,
    users: SEEDED_USERS.map(({ email, password, tenant, role }) => ({ email, password, tenant, role })),
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
