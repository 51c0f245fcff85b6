import assert from 'node:assert/strict';
import { test } from 'node:test';

import { serviceFor, targetsFromEnv } from './routes.mjs';

test('statistics, the live stream, the report and the recipient list go to analytics', () => {
  assert.equal(serviceFor('GET', '/campaigns/camp_abc/report?state=failed&state=unknown&limit=50'), 'analytics');
  assert.equal(serviceFor('GET', '/campaigns/camp_abc/stats'), 'analytics');
  assert.equal(serviceFor('GET', '/campaigns/camp_abc/stream'), 'analytics');
  assert.equal(serviceFor('GET', '/campaigns/camp_abc/recipients?state=bounced&limit=50'), 'analytics');
});

test('the recipient upload and every other campaign path go to the campaign service', () => {
  assert.equal(serviceFor('POST', '/campaigns/camp_abc/recipients'), 'campaign');
  assert.equal(serviceFor('GET', '/campaigns'), 'campaign');
  assert.equal(serviceFor('POST', '/campaigns'), 'campaign');
  assert.equal(serviceFor('GET', '/campaigns/camp_abc'), 'campaign');
  assert.equal(serviceFor('POST', '/campaigns/camp_abc/send'), 'campaign');
  assert.equal(serviceFor('GET', '/campaigns/camp_abc/invalid?format=csv'), 'campaign');
  assert.equal(serviceFor('DELETE', '/suppressions/ada@example.com'), 'campaign');
  assert.equal(serviceFor('GET', '/suppressions'), 'campaign');
  assert.equal(serviceFor('PUT', '/sending-policy'), 'campaign');
  assert.equal(serviceFor('GET', '/reputation'), 'campaign');
  assert.equal(serviceFor('POST', '/u/token123'), 'campaign');
  assert.equal(serviceFor('POST', '/webhooks'), 'campaign');
  assert.equal(serviceFor('GET', '/webhooks/wh_abc/deliveries'), 'campaign');
});

test('templates and inline rendering go to the template service', () => {
  assert.equal(serviceFor('PUT', '/templates/newsletter'), 'template');
  assert.equal(serviceFor('GET', '/templates'), 'template');
  assert.equal(serviceFor('POST', '/templates/newsletter/render'), 'template');
  assert.equal(serviceFor('POST', '/render'), 'template');
});

test('the dashboard’s own pages and files are not proxied', () => {
  for (const path of ['/', '/dashboard', '/dashboard/campaigns/camp_abc', '/sign-in', '/main-ABC.js', '/campaignsx', '/rendered', '/u']) {
    assert.equal(serviceFor('GET', path), null, path);
  }
});

test('service addresses come from the environment', () => {
  const targets = targetsFromEnv({ HERALD_ANALYTICS_URL: 'http://127.0.0.1:9003' });
  assert.equal(targets.analytics, 'http://127.0.0.1:9003');
  assert.equal(targets.campaign, 'http://127.0.0.1:8001');
});
