import { CampaignStats } from '../core/models';
import { countersOf, finalRecipients, percent, progressOf } from './stats-math';

function stats(overrides: Partial<CampaignStats>): CampaignStats {
  return {
    campaignId: 'camp_x', status: 'sending', recipients: 0, queued: 0, sent: 0, delivered: 0, bounced: 0,
    complained: 0, rejected: 0, failed: 0, suppressed: 0, invalid: 0, unknown: 0, opened: 0, clicked: 0,
    deliveryRate: 0, bounceRate: 0, complaintRate: 0, updatedAt: null, ...overrides,
  };
}

describe('stats math', () => {
  it('counts as final every recipient that is no longer queued, intake invalids included', () => {
    // 1000 recipients: 950 accepted (300 still queued) and 50 invalid at intake
    const s = stats({ recipients: 1000, queued: 300, sent: 640, invalid: 50, suppressed: 10 });
    expect(finalRecipients(s)).toBe(700);
    expect(progressOf(s)).toBeCloseTo(0.7, 10);
  });

  it('reports no progress for an empty campaign and never more than all of it', () => {
    expect(progressOf(stats({ recipients: 0 }))).toBe(0);
    expect(progressOf(stats({ recipients: 10, queued: -3 }))).toBe(1);
  });

  it('formats fractions as percentages with one decimal', () => {
    expect(percent(0.1234)).toBe('12.3 %');
    expect(percent(1)).toBe('100.0 %');
    expect(percent(0)).toBe('0.0 %');
  });

  it('gives each counter its value and the rate the analytics service defines', () => {
    const s = stats({
      recipients: 200, sent: 100, delivered: 90, bounced: 8, complained: 2, opened: 45, clicked: 9,
      deliveryRate: 0.9, bounceRate: 0.08, complaintRate: 0.02, openRate: 0.5, clickRate: 0.1,
    });
    const byKey = Object.fromEntries(countersOf(s).map((c) => [c.key, c]));
    expect(Object.keys(byKey)).toEqual([
      'sent', 'delivered', 'bounced', 'complained', 'suppressed', 'invalid', 'unknown', 'failed', 'opened', 'clicked',
    ]);
    expect(byKey['sent'].rate).toBe('50.0 % of recipients');
    expect(byKey['delivered']).toEqual({ key: 'delivered', label: 'Delivered', value: 90, rate: '90.0 % of sent' });
    expect(byKey['bounced'].rate).toBe('8.0 % of sent');
    expect(byKey['opened'].rate).toBe('50.0 % of delivered');
    expect(byKey['clicked'].rate).toBe('10.0 % of delivered');
  });

  it('shows no rate where its base is still zero', () => {
    const counters = countersOf(stats({ recipients: 0 }));
    expect(counters.every((c) => c.rate === null)).toBe(true);
  });
});
