// What the browser tests stand on: a real Herald stack on the emulator (stack.py), the built dashboard behind the
// same-origin test gateway (gateway/serve.mjs), and Debian's Chromium driven by playwright-core (no browser download).
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const UI_DIR = path.resolve(here, '..');
export const REPO = path.resolve(UI_DIR, '..');
export const ARTIFACTS = path.join(here, 'artifacts');
const PYTHON = process.env.HERALD_PYTHON ?? path.join(REPO, '.venv', 'bin', 'python');
const CHROMIUM = process.env.HERALD_CHROMIUM ?? '/usr/bin/chromium';
const STACK_TIMEOUT_MS = 180_000;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

function stopped(child, timeoutMs = 30_000) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Resolves with the first line a child prints (its report), or rejects when it exits or takes too long first. */
function firstLine(child, what, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start in time`)), timeoutMs);
    child.once('exit', (code) => reject(new Error(`${what} exited (${code}) before it was up`)));
    readline.createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
  });
}

/**
 * The development OIDC provider (dev-oidc/server.mjs) on a free port, accepting the dashboard at `dashboardOrigin`;
 * resolves with its report (issuer, JWKS URL, client id, scope, seeded users and their passwords).
 */
async function startIdentityProvider(dashboardOrigin) {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [path.join(UI_DIR, 'dev-oidc', 'server.mjs'), '--port', String(port), '--dashboard', dashboardOrigin],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const report = JSON.parse(await firstLine(child, 'the identity provider', 30_000));
  return { child, ...report };
}

/** Starts the Herald stack; resolves with its URLs and a marketer token once every service is healthy. */
function startStack(env = {}) {
  const child = spawn(PYTHON, [path.join(here, 'stack.py')], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the Herald stack did not start in time')), STACK_TIMEOUT_MS);
    child.once('exit', (code) => reject(new Error(`stack.py exited (${code}) before the stack was up`)));
    readline.createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      resolve({ child, ...JSON.parse(line) });
    });
  });
}

async function startGateway(stack, port, runtimeConfig) {
  const child = spawn(process.execPath, [path.join(UI_DIR, 'gateway', 'serve.mjs'), '--port', String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      HERALD_CAMPAIGN_URL: stack.campaign,
      HERALD_TEMPLATE_URL: stack.template,
      HERALD_ANALYTICS_URL: stack.analytics,
      HERALD_UI_CONFIG: JSON.stringify(runtimeConfig),
    },
  });
  await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the gateway exited (${code})`)));
    readline.createInterface({ input: child.stdout }).once('line', resolve);
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

/**
 * Everything the tests need, started once; `close()` stops it all, in reverse. With `identityProvider`, the
 * dashboard signs in through the development OIDC provider only (as a deployment does: no token paste), and the
 * services verify its tokens against its JWKS; without, it offers token paste only.
 */
export async function startHarness({ identityProvider = false } = {}) {
  const gatewayPort = await freePort();
  const idp = identityProvider ? await startIdentityProvider(`http://127.0.0.1:${gatewayPort}`) : null;
  const runtimeConfig = idp
    ? { oidc: { issuer: idp.issuer, clientId: idp.clientId, scope: idp.scope, displayName: 'Herald ID (development)' }, tokenSignIn: false }
    : { oidc: null, tokenSignIn: true };
  const idpEnv = idp
    ? {
        HERALD_JWKS_URL: idp.jwksUrl,
        HERALD_JWT_ISSUER: idp.issuer,
        HERALD_JWT_AUDIENCE: idp.audience,
        HERALD_JWT_DEV_TOKENS: 'true', // the harness's own API calls use `herald token`'s kind of token
      }
    : {};
  const stack = await startStack(idpEnv).catch(async (error) => {
    if (idp) await stopped(idp.child);
    throw error;
  });
  const gateway = await startGateway(stack, gatewayPort, runtimeConfig).catch(async (error) => {
    await stopped(stack.child);
    if (idp) await stopped(idp.child);
    throw error;
  });
  // playwright-core gives every launch a fresh, temporary profile (user-data-dir) of its own.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  }).catch(async (error) => {
    await stopped(gateway.child);
    stack.child.stdin.end();
    await stopped(stack.child, 60_000);
    if (idp) await stopped(idp.child);
    throw error;
  });
  return {
    stack,
    idp,
    baseUrl: gateway.url,
    browser,
    /** Calls a service API directly (as another user or script would), with the marketer's token. */
    async api(method, url, body) {
      const response = await fetch(url, {
        method,
        headers: { Authorization: `Bearer ${stack.marketer}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : null };
    },
    async close() {
      await browser.close().catch(() => {});
      await stopped(gateway.child);
      stack.child.stdin.end();
      await stopped(stack.child, 60_000);
      if (idp) await stopped(idp.child);
    },
  };
}

/**
 * A page that records every console error and uncaught exception; `allow(pattern)` lets through the ones a step
 * expects (a browser logs a failed request, such as a deliberate 409, as a console error), for that step only.
 */
export async function watchedPage(context) {
  const page = await context.newPage();
  const errors = [];
  let allowed = null;
  page.on('console', (message) => {
    if (message.type() === 'error' && !(allowed && allowed.test(message.text()))) {
      errors.push(`console error: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
  return {
    page,
    errors,
    async allowing(pattern, step) {
      allowed = pattern;
      try {
        return await step();
      } finally {
        allowed = null;
      }
    },
  };
}
