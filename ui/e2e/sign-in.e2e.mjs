// Signing in through an identity provider, end to end in headless Chromium: the dashboard as deployed (runtime config
// naming the provider, no token paste) against the development OIDC provider (dev-oidc/server.mjs) and a real stack
// whose services verify the provider's tokens against its JWKS. A wrong password is refused on the provider's page; a
// marketer signs in, sends a campaign, watches it finish and signs out; a viewer sees it all read-only; an expired
// access token is renewed with the refresh token; a session whose renewal the provider refuses goes back to sign-in
// with a message. Fails on any console error.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ARTIFACTS, startHarness, watchedPage } from './harness.mjs';

const SETTLE_MS = 150_000;
const RECIPIENTS = ['email,first_name', 'ada@example.com,Ada', 'grace@example.com,Grace', 'alan@example.com,Alan'].join('\n');

let h;
let campaignPath;

function person(role, tenant = 'acme') {
  const user = h.idp.users.find((u) => u.role === role && u.tenant === tenant);
  assert.ok(user, `a seeded ${role} of ${tenant}`);
  return user;
}

/** From the dashboard's sign-in page through the provider's login page; resolves on the page the provider answered. */
async function throughTheProvider(page, email, password) {
  await page.goto('/');
  await page.waitForURL('**/sign-in');
  await page.getByTestId('sign-in-oidc').click();
  await page.waitForURL((url) => url.href.startsWith(`${h.idp.issuer}/interaction/`));
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function signIn(page, role) {
  const { email, password } = person(role);
  await throughTheProvider(page, email, password);
  await page.waitForURL('**/dashboard');
  await page.getByRole('heading', { name: 'Campaigns' }).waitFor();
  assert.equal(await page.getByTestId('who').textContent(), `acme · ${role}`);
}

async function statusIs(page, status, timeout = 30_000) {
  await page.locator(`[data-testid="status"][data-status="${status}"]`).waitFor({ timeout });
}

/** oidc-client-ts keeps the signed-in user in sessionStorage under `oidc.user:<issuer>:<client id>`. */
function storedUserKey() {
  return `oidc.user:${h.idp.issuer}:${h.idp.clientId}`;
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  h = await startHarness({ identityProvider: true });
});

after(async () => {
  await h?.close();
});

describe('signing in to the dashboard through an identity provider', { timeout: 600_000 }, () => {
  test('a deployment offers the provider only, and the provider refuses a wrong password', async () => {
    const context = await h.browser.newContext({ baseURL: h.baseUrl });
    // The provider answers a refused login with 401, which the browser logs as a failed load.
    const watched = await watchedPage(context);
    await watched.allowing(/status of 401/, async () => {
      const { page } = watched;
      await page.goto('/');
      await page.waitForURL('**/sign-in');
      assert.equal(await page.locator('textarea#token').count(), 0, 'no token paste outside development');
      const { email, password } = person('marketer');
      await throughTheProvider(page, email, `${password}-wrong`);
      await page.getByRole('alert').waitFor();
      assert.equal((await page.getByRole('alert').textContent()).trim(), 'Wrong email or password.');
      assert.ok(page.url().startsWith(`${h.idp.issuer}/interaction/`), 'still on the provider, not signed in');
      await page.goto('/dashboard');
      await page.waitForURL('**/sign-in');
    });
    assert.deepEqual(watched.errors, []);
    await context.close();
  });

  test('a marketer signs in, sends a campaign, watches it finish and signs out', async () => {
    const context = await h.browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: h.baseUrl });
    const { page, errors } = await watchedPage(context);
    await signIn(page, 'marketer');

    await page.getByRole('link', { name: 'New campaign' }).first().click();
    await page.getByRole('heading', { name: 'New campaign' }).waitFor();
    await page.getByRole('button', { name: /Create the demo template/ }).click();
    await page.locator('#template option[value="newsletter"]').waitFor({ state: 'attached' });
    await page.getByLabel('Name', { exact: true }).fill('Signed-in campaign');
    await page.getByLabel('Recipients').fill(RECIPIENTS);
    await page.getByRole('button', { name: 'Create draft' }).click();
    await page.waitForURL(/\/dashboard\/campaigns\/camp_[a-z0-9]+$/);
    campaignPath = new URL(page.url()).pathname;
    await statusIs(page, 'draft');

    await page.getByRole('button', { name: 'Send campaign' }).click();
    await statusIs(page, 'sending');
    await statusIs(page, 'sent', SETTLE_MS);
    await page.waitForFunction(
      () => ['sent', 'delivered'].every((k) => document.querySelector(`[data-counter="${k}"] [data-testid="count"]`)?.textContent === '3'),
      null,
      { timeout: SETTLE_MS },
    );
    await page.screenshot({ path: path.join(ARTIFACTS, 'signed-in-marketer.png'), fullPage: true });

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL('**/sign-in');
    assert.equal(await page.getByTestId('who').count(), 0);
    assert.equal(await page.evaluate((key) => sessionStorage.getItem(key), storedUserKey()), null);
    // Signed out of the provider too: signing in again asks for the password.
    await page.getByTestId('sign-in-oidc').click();
    await page.waitForURL((url) => url.href.startsWith(`${h.idp.issuer}/interaction/`));
    await page.getByLabel('Password').waitFor();
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('a viewer sees the campaigns and their figures, read-only', async () => {
    assert.ok(campaignPath, 'the marketer test created a campaign');
    const context = await h.browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: h.baseUrl });
    const { page, errors } = await watchedPage(context);
    await signIn(page, 'viewer');
    await page.getByRole('row', { name: /Signed-in campaign/ }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'New campaign' }).count(), 0, 'no way to create');

    await page.getByRole('link', { name: 'Signed-in campaign' }).click();
    await statusIs(page, 'sent');
    await page.waitForFunction(() => document.querySelector('[data-counter="delivered"] [data-testid="count"]')?.textContent === '3');
    assert.match(await page.locator('#actions-title + p.help').textContent(), /need the marketer role/);
    const actions = page.getByRole('group', { name: 'Campaign actions' }).getByRole('button');
    assert.ok((await actions.count()) >= 4);
    for (const button of await actions.all()) {
      assert.equal(await button.isDisabled(), true, `${await button.textContent()} is disabled for a viewer`);
    }
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('an expired access token is renewed with the refresh token, without a sign-in', async () => {
    const context = await h.browser.newContext({ baseURL: h.baseUrl });
    const { page, errors } = await watchedPage(context);
    await signIn(page, 'marketer');
    const key = storedUserKey();
    const stored = JSON.parse(await page.evaluate((k) => sessionStorage.getItem(k), key));
    await page.evaluate(
      ([k, user]) => sessionStorage.setItem(k, JSON.stringify({ ...user, expires_at: Math.floor(Date.now() / 1000) - 5 })),
      [key, stored],
    );
    await page.goto('/dashboard');
    await page.getByRole('heading', { name: 'Campaigns' }).waitFor();
    await page.getByRole('row', { name: /Signed-in campaign/ }).waitFor(); // the API admits the renewed token
    const renewed = JSON.parse(await page.evaluate((k) => sessionStorage.getItem(k), key));
    assert.notEqual(renewed.access_token, stored.access_token);
    assert.ok(renewed.expires_at > Date.now() / 1000, 'a fresh expiry');
    assert.equal(new URL(page.url()).pathname, '/dashboard');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('an expired session whose renewal the provider refuses returns to sign-in with a message', async () => {
    const context = await h.browser.newContext({ baseURL: h.baseUrl });
    const watched = await watchedPage(context);
    const { page, errors } = watched;
    await signIn(page, 'viewer');
    const key = storedUserKey();
    const stored = JSON.parse(await page.evaluate((k) => sessionStorage.getItem(k), key));
    assert.ok(stored.refresh_token, 'the provider gave the dashboard a refresh token');

    // The provider ends the grant (as an administrator revoking it would), and the access token runs out.
    const revoked = await fetch(`${h.idp.issuer}/token/revocation`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: stored.refresh_token, token_type_hint: 'refresh_token', client_id: h.idp.clientId }),
    });
    assert.equal(revoked.status, 200);
    await page.evaluate(
      ([k, user]) => sessionStorage.setItem(k, JSON.stringify({ ...user, expires_at: Math.floor(Date.now() / 1000) - 5 })),
      [key, stored],
    );

    // The provider answers the refused refresh with 400 invalid_grant, which the browser logs as a failed load.
    await watched.allowing(/status of 400/, async () => {
      await page.reload();
      await page.waitForURL('**/sign-in?expired=1');
    });
    assert.equal((await page.getByTestId('session-expired').textContent()).trim(), 'Your session has expired. Sign in again.');
    assert.equal(await page.evaluate((k) => sessionStorage.getItem(k), key), null);
    await page.goto('/dashboard');
    await page.waitForURL('**/sign-in');
    assert.deepEqual(errors, []);
    await context.close();
  });
});
