import { TestBed } from '@angular/core/testing';

import { CampaignStats } from '../core/models';
import { LiveView } from './live-view';

const STATS: CampaignStats = {
  campaignId: 'camp_x', status: 'sending', recipients: 40, queued: 10, sent: 28, delivered: 25, bounced: 2,
  complained: 1, rejected: 0, failed: 0, suppressed: 1, invalid: 1, unknown: 0, opened: 5, clicked: 1,
  deliveryRate: 0.8929, bounceRate: 0.0714, complaintRate: 0.0357, updatedAt: null, openRate: 0.2, clickRate: 0.04,
};

describe('LiveView', () => {
  async function render(stats: CampaignStats | null, state: 'live' | 'stopped' = 'live', problem: string | null = null) {
    const fixture = TestBed.createComponent(LiveView);
    fixture.componentRef.setInput('stats', stats);
    fixture.componentRef.setInput('buckets', []);
    fixture.componentRef.setInput('streamState', state);
    fixture.componentRef.setInput('problem', problem);
    await fixture.whenStable();
    return fixture.nativeElement as HTMLElement;
  }

  it('shows progress as final recipients of the total, for sighted and screen-reader users', async () => {
    const element = await render(STATS);
    const bar = element.querySelector('[role="progressbar"]')!;
    expect(bar.getAttribute('aria-valuenow')).toBe('30');
    expect(bar.getAttribute('aria-valuemax')).toBe('40');
    expect(element.querySelector('[data-testid="progress-text"]')?.textContent).toBe('30 of 40 recipients final (75.0 %)');
    expect((element.querySelector('.progress-fill') as HTMLElement).style.width).toBe('75%');
  });

  it('shows each counter with its value and rate', async () => {
    const element = await render(STATS);
    const delivered = element.querySelector('[data-counter="delivered"]')!;
    expect(delivered.querySelector('dt')?.textContent).toBe('Delivered');
    expect(delivered.querySelector('.count')?.textContent).toBe('25');
    expect(delivered.querySelector('.rate')?.textContent).toBe('89.3 % of sent');
    expect(element.querySelectorAll('.counter').length).toBe(10);
  });

  it('says why live updates stopped', async () => {
    const element = await render(null, 'stopped', 'Live statistics are not available: Campaign not found.');
    expect(element.querySelector('[data-testid="stream-state"]')?.textContent?.trim()).toBe(
      'Live statistics are not available: Campaign not found.',
    );
    expect(element.querySelector('[role="progressbar"]')).toBeNull();
  });
});
