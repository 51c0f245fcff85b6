// The dashboard end to end, in headless Chromium, against the real stack on the emulator:
// sign in, create a campaign, preview it, send it, pause and resume it, watch the counters reach their final values,
// and see a 409 in words. Fails on any console error. Screenshots go to ui/e2e/artifacts/.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ARTIFACTS, startHarness, watchedPage } from './harness.mjs';

const REGULAR = 56;
const SIMULATOR = ['bounce@simulator.amazonses.com', 'complaint@simulator.amazonses.com', 'suppressionlist@simulator.amazonses.com'];
// 56 ordinary readers, 3 SES simulator addresses, 1 malformed address and 1 duplicate row.
const RECIPIENTS_CSV = [
  'email,first_name',
  ...Array.from({ length: REGULAR }, (_, i) => `reader${i + 1}@example.com,Reader${i + 1}`),
  ...SIMULATOR.map((email) => `${email},Sim`),
  'not-an-address,Broken',
  'reader1@example.com,Again',
].join('\n');
// What the statistics must settle at (docs/architecture.md; the emulator bounces bounce@ and suppressionlist@
// permanently, and delivers complaint@ before its complaint).
const FINAL = { sent: 59, delivered: 57, bounced: 2, complained: 1, suppressed: 0, invalid: 1, unknown: 0, failed: 0 };
const SETTLE_MS = 150_000;

let h;
let context;
let watched;
let campaignUrl;

async function count(page, key) {
  return Number(await page.locator(`[data-counter="${key}"] [data-testid="count"]`).textContent());
}

/**
 * The `sent` counter of a paused campaign once its sends are over and counted: the delivery report finds no
 * recipient claimed (`sending`), its sent rows are as many as the campaign's count says (a batch counts what it
 * sent when it stops), and the counter shows that count.
 */
async function pausedAndCounted(page, limit = 60_000) {
  const report = `${h.baseUrl}/campaigns/${campaignUrl.split('/').pop()}/report`;
  const started = Date.now();
  for (;;) {
    const claimed = await h.api('GET', `${report}?state=sending&limit=1`);
    const sent = await h.api('GET', `${report}?state=sent&limit=100`);
    assert.deepEqual([claimed.status, sent.status], [200, 200]);
    const counted = sent.body.summary.sent;
    const shown = await count(page, 'sent');
    if (claimed.body.items.length === 0 && sent.body.items.length === counted && shown === counted) return shown;
    assert.ok(Date.now() - started < limit, `still sending ${limit} ms after the pause (counter ${shown}, ${JSON.stringify(claimed.body)})`);
    await page.waitForTimeout(250);
  }
}

async function statusIs(page, status, timeout = 30_000) {
  await page.locator(`[data-testid="status"][data-status="${status}"]`).waitFor({ timeout });
}

/** The form controls and buttons on the page that have no accessible name. */
function unlabelled(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea, button')]
      .filter((el) => {
        const labelled = (el.labels && el.labels.length > 0) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
        const text = el.tagName === 'BUTTON' && el.textContent.trim().length > 0;
        return !labelled && !text;
      })
      .map((el) => el.outerHTML.slice(0, 80)),
  );
}

function noConsoleErrors() {
  assert.deepEqual(watched.errors, [], 'the page logged errors');
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  h = await startHarness();
  context = await h.browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: h.baseUrl });
  watched = await watchedPage(context);
});

after(async () => {
  await context?.close().catch(() => {});
  await h?.close();
});

describe('the Herald dashboard', { timeout: 600_000 }, () => {
  test('refuses a malformed token and signs in with a real one, by keyboard', async () => {
    const { page } = watched;
    await page.goto('/');
    await page.waitForURL('**/sign-in');
    assert.deepEqual(await unlabelled(page), []);
    for (let i = 0; i < 6 && (await page.evaluate(() => document.activeElement?.id)) !== 'token'; i++) {
      await page.keyboard.press('Tab');
    }
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'token', 'Tab reaches the token field');
    await page.keyboard.type('not-a-token');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    assert.match(await page.getByTestId('sign-in-error').textContent(), /three parts separated by dots/);

    await page.getByLabel('Access token').fill(h.stack.marketer);
    await page.getByLabel('Access token').focus();
    await page.keyboard.press('Tab');
    // The reputation banner reads the guard's verdict through the gateway; a fresh tenant has none to show.
    const reputation = page.waitForResponse((r) => new URL(r.url()).pathname === '/reputation');
    await page.keyboard.press('Enter');
    await page.waitForURL('**/dashboard');
    await page.getByRole('heading', { name: 'Campaigns' }).waitFor();
    assert.equal(await page.getByTestId('who').textContent(), 'acme · marketer');
    const verdict = await reputation;
    assert.equal(verdict.status(), 200);
    assert.deepEqual(await verdict.json(), { level: 'ok' });
    assert.equal(await page.getByTestId('reputation-banner').count(), 0);
    noConsoleErrors();
  });

  test('creates a draft campaign (and the demo template) in the UI', async () => {
    const { page } = watched;
    await page.getByRole('link', { name: 'New campaign' }).first().click();
    await page.getByRole('heading', { name: 'New campaign' }).waitFor();
    await page.getByRole('button', { name: /Create the demo template/ }).click();
    await page.locator('#template option[value="newsletter"]').waitFor({ state: 'attached' });
    await page.getByLabel('Name', { exact: true }).fill('Browser test campaign');
    await page.getByLabel('Recipients').fill(RECIPIENTS_CSV);
    assert.deepEqual(await unlabelled(page), []);
    await page.getByRole('button', { name: 'Create draft' }).click();
    await page.waitForURL(/\/dashboard\/campaigns\/camp_[a-z0-9]+$/);
    campaignUrl = new URL(page.url()).pathname;
    await statusIs(page, 'draft');
    const summary = page.getByTestId('recipients-summary');
    await summary.waitFor();
    const facts = await summary.locator('div').evaluateAll((rows) =>
      Object.fromEntries(rows.map((r) => [r.querySelector('dt').textContent, r.querySelector('dd').textContent])),
    );
    assert.equal(facts['Submitted'], '60');
    assert.equal(facts['Accepted'], '59');
    assert.equal(facts['Invalid at intake'], '1');
    assert.equal(facts['Duplicates folded'], '1');
    noConsoleErrors();
  });

  test('previews the template through the render API, and says why a recipient cannot be rendered', async () => {
    const { page } = watched;
    // The form starts from the campaign's first recipient, so the first preview renders real data.
    await page.waitForFunction(() => document.querySelector('#sample-email')?.value === 'reader1@example.com');
    await page.getByRole('button', { name: 'Render preview' }).click();
    await page.getByTestId('preview-subject').waitFor();
    assert.equal(await page.getByTestId('preview-subject').textContent(), 'Reader1, the Herald newsletter is here');
    const heading = await page.frameLocator('iframe.preview').locator('h1').textContent();
    assert.equal(heading, 'Hello Reader1!');

    await page.getByLabel('Sample data (JSON)').fill('{}');
    await page.getByRole('button', { name: 'Render preview' }).click();
    await page.getByTestId('preview-error').waitFor();
    assert.match(await page.getByTestId('preview-error').textContent(), /cannot be rendered: .*first_name/);
    noConsoleErrors();
  });

  test('sends with a throttle, pauses, resumes and watches the counters reach their final values', async () => {
    const { page } = watched;
    assert.deepEqual(await unlabelled(page), []);
    await page.getByLabel('Emails per minute').fill('120');
    await page.getByLabel('Priority').selectOption('high');
    await page.getByRole('button', { name: 'Send campaign' }).click();
    await statusIs(page, 'sending');
    await page.locator('[data-testid="stream-state"]', { hasText: 'Live' }).waitFor({ timeout: 30_000 });
    assert.match(await page.getByTestId('action-note').textContent(), /the campaign is sending/);

    // Pause while it is still sending (120 a minute: the 59 sends take about 30 s).
    await page.getByRole('button', { name: 'Pause' }).click();
    await statusIs(page, 'paused');
    // The batches under way stop at their next status check and count what they sent. Once the ledger holds no
    // claimed recipient, nothing more goes out: a chunk claimed later reads the status after its claim and gives
    // the claim back. So wait for that, and for the counter to show what the ledger says was sent.
    const heldAt = await pausedAndCounted(page);
    await page.waitForTimeout(4000);
    assert.equal(await count(page, 'sent'), heldAt, 'nothing is sent while paused');
    assert.ok(heldAt < FINAL.sent, `paused before the end (sent ${heldAt})`);
    assert.equal(await page.getByRole('button', { name: 'Pause' }).isDisabled(), true);

    await page.getByRole('button', { name: 'Resume' }).click();
    await statusIs(page, 'sending');
    assert.equal(await page.getByTestId('action-note').textContent(), 'Done: the campaign is sending.');
    await statusIs(page, 'sent', SETTLE_MS);
    // Once the campaign is sent, the notice no longer says it is sending.
    await page.getByTestId('action-note').waitFor({ state: 'detached' });
    await page.waitForFunction(
      (expected) =>
        Object.entries(expected).every(
          ([key, value]) => document.querySelector(`[data-counter="${key}"] [data-testid="count"]`)?.textContent === String(value),
        ),
      FINAL,
      { timeout: SETTLE_MS },
    );
    for (const [key, value] of Object.entries(FINAL)) {
      assert.equal(await count(page, key), value, key);
    }
    assert.equal(await page.getByTestId('progress-text').textContent(), '60 of 60 recipients final (100.0 %)');
    assert.equal(await page.getByRole('progressbar').getAttribute('aria-valuenow'), '60');
    assert.match(await page.locator('[data-counter="delivered"] .rate').textContent(), /^96\.6 % of sent$/);
    const chart = await page.locator('app-rate-chart svg').getAttribute('aria-label');
    assert.doesNotMatch(chart, /none yet/, 'the chart shows the sends');
    assert.ok((await page.locator('rect.bar').evaluateAll((bars) => bars.filter((b) => Number(b.getAttribute('height')) > 0).length)) >= 1);
    await page.screenshot({ path: path.join(ARTIFACTS, 'live-view.png'), fullPage: true });

    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no sideways scrolling at phone width (${overflow}px too wide)`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'live-view-phone.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
    noConsoleErrors();
  });

  test('shows a 409 in words when someone else sent the campaign first', async () => {
    const { page } = watched;
    const created = await h.api('POST', `${h.stack.campaign}/campaigns`, {
      name: 'Sent by someone else',
      templateId: 'newsletter',
      fromAddress: 'news@example.com',
      recipients: [{ email: 'ada@example.com', data: { first_name: 'Ada' } }],
    });
    assert.equal(created.status, 201);
    const id = created.body.campaignId;
    await page.goto(`/dashboard/campaigns/${id}`);
    await statusIs(page, 'draft');
    const other = await h.api('POST', `${h.stack.campaign}/campaigns/${id}/send`, { sendAt: 'immediate' });
    assert.equal(other.status, 202);

    await watched.allowing(/status of 409/, async () => {
      await page.getByRole('button', { name: 'Send campaign' }).click();
      await page.getByTestId('action-error').waitFor();
    });
    const message = await page.getByTestId('action-error').textContent();
    assert.match(message, /^Campaign already (sending|sent): \S.*/);
    assert.doesNotMatch(message, /[{}]/, 'words, not JSON');
    assert.equal(await page.getByTestId('action-error').getAttribute('role'), 'alert');
    await page.locator('[data-testid="status"]:not([data-status="draft"])').waitFor();
    noConsoleErrors();
  });

  test('retries the failed recipients of a sent campaign', async () => {
    const { page } = watched;
    const created = await h.api('POST', `${h.stack.campaign}/campaigns`, {
      name: 'One without a first name',
      templateId: 'newsletter',
      fromAddress: 'news@example.com',
      recipients: [{ email: 'grace@example.com', data: { first_name: 'Grace' } }, { email: 'nameless@example.com' }],
    });
    assert.equal(created.status, 201);
    await page.goto(`/dashboard/campaigns/${created.body.campaignId}`);
    await statusIs(page, 'draft');
    await page.getByRole('button', { name: 'Send campaign' }).click();
    await statusIs(page, 'sent', SETTLE_MS);
    await page.waitForFunction(() => document.querySelector('[data-counter="failed"] [data-testid="count"]')?.textContent === '1');
    assert.equal(await count(page, 'sent'), 1);

    await page.getByRole('button', { name: 'Retry failed' }).click();
    await page.getByTestId('action-note').waitFor();
    assert.equal(await page.getByTestId('action-note').textContent(), 'Retry 1: 1 failed recipients queued again in 1 batches.');
    // The retry put the campaign back to sending (before its 202); the template still needs first_name, so the
    // retried recipient fails again and the campaign ends sent again, which the page then shows.
    const deadline = Date.now() + SETTLE_MS;
    let campaign;
    do {
      await page.waitForTimeout(500);
      campaign = (await h.api('GET', `${h.stack.campaign}/campaigns/${created.body.campaignId}`)).body;
    } while (campaign.status !== 'sent' && Date.now() < deadline);
    assert.equal(campaign.status, 'sent');
    assert.equal(campaign.counts.failed, 1);
    await statusIs(page, 'sent', SETTLE_MS);
    await page.waitForFunction(() => document.querySelector('[data-counter="failed"] [data-testid="count"]')?.textContent === '1');
    noConsoleErrors();
  });

  test('shows the delivery report: counts by state, a filtered table and the CSV', async () => {
    const { page } = watched;
    await page.goto(campaignUrl);
    await statusIs(page, 'sent');
    await page.getByRole('button', { name: 'Delivery report' }).click();
    const summary = page.getByTestId('report-summary');
    await summary.waitFor();
    assert.match(await summary.textContent(), new RegExp(`${FINAL.sent} sent`));
    assert.match(await summary.textContent(), /0 in doubt/);
    assert.deepEqual(await unlabelled(page), []);

    await page.locator('input[data-state="sent"]').check();
    await page.locator('[data-testid="report-table"] tbody tr[data-state="sent"]').first().waitFor();
    const states = await page.locator('[data-testid="report-table"] tbody tr').evaluateAll((rows) => [...new Set(rows.map((r) => r.dataset.state))]);
    assert.deepEqual(states, ['sent']);

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
    assert.match(download.suggestedFilename(), /^camp_[a-z0-9]+-report-sent\.csv$/);
    const file = path.join(ARTIFACTS, download.suggestedFilename());
    await download.saveAs(file);
    const lines = readFileSync(file, 'utf8').trim().split(/\r?\n/);
    assert.equal(lines[0], 'email,state,messageId,attempts,reason,sentAt,updatedAt');
    assert.equal(lines.length - 1, FINAL.sent);
    noConsoleErrors();
  });

  test('lists the campaigns with their status', async () => {
    const { page } = watched;
    await page.getByRole('link', { name: 'Campaigns', exact: true }).click();
    const row = page.getByRole('row', { name: /Browser test campaign/ });
    await row.waitFor();
    assert.equal(await row.locator('.status').textContent(), 'sent');
    await page.getByRole('row', { name: /Sent by someone else/ }).waitFor();
    await page.goto(campaignUrl); // a reload of a dashboard page works behind the gateway
    await statusIs(page, 'sent');
    noConsoleErrors();
  });
});
