import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';

import { ReputationState } from '../core/models';
import { ReputationBanner, reputationMessage } from './reputation-banner';

const WARNING: ReputationState = {
  level: 'warn',
  scope: 'domain:news.example',
  window: '1h',
  reason: 'bounce rate 2.60% (26 of 1000) over the last 1h for news.example',
  at: '2026-12-07T01:00:00Z',
};

describe('reputationMessage', () => {
  it('says nothing while the reputation is fine', () => {
    expect(reputationMessage(null)).toBeNull();
    expect(reputationMessage({ level: 'ok' })).toBeNull();
  });

  it('names the sending domain and the reason of a warning', () => {
    expect(reputationMessage(WARNING)).toBe(
      'Sending from news.example is at half the reputation limit: bounce rate 2.60% (26 of 1000) over the last 1h ' +
        'for news.example. Campaigns pause automatically at the limit.',
    );
  });

  it('tells the tenant its campaigns were paused at the limit', () => {
    const message = reputationMessage({ level: 'pause', scope: 'tenant', reason: 'complaint rate 0.12% (12 of 10000)' });
    expect(message).toContain('Your sending is over the reputation limit and its campaigns were paused');
    expect(message).toContain('complaint rate 0.12%');
  });
});

describe('ReputationBanner', () => {
  let http: HttpTestingController;

  async function render(answer: ReputationState | 'error') {
    TestBed.configureTestingModule({ providers: [provideHttpClient(), provideHttpClientTesting()] });
    http = TestBed.inject(HttpTestingController);
    const fixture = TestBed.createComponent(ReputationBanner);
    fixture.detectChanges();
    const request = http.expectOne('/reputation');
    expect(request.request.method).toBe('GET');
    if (answer === 'error') {
      request.flush({ error: 'Internal', detail: 'x' }, { status: 500, statusText: 'Internal Server Error' });
    } else {
      request.flush(answer);
    }
    await fixture.whenStable();
    fixture.detectChanges();
    return fixture;
  }

  afterEach(() => {
    http.verify();
    TestBed.resetTestingModule();
  });

  it('shows a warning banner at half the limit', async () => {
    const fixture = await render(WARNING);
    const banner: HTMLElement = fixture.nativeElement.querySelector('[data-testid="reputation-banner"]');
    expect(banner.getAttribute('role')).toBe('alert');
    expect(banner.classList).toContain('warning');
    expect(banner.textContent).toContain('Sending from news.example is at half the reputation limit');
    fixture.destroy();
  });

  it('shows a danger banner once paused', async () => {
    const fixture = await render({ level: 'pause', scope: 'tenant', reason: 'bounce rate 5.00% (50 of 1000)' });
    const banner: HTMLElement = fixture.nativeElement.querySelector('[data-testid="reputation-banner"]');
    expect(banner.classList).toContain('error');
    fixture.destroy();
  });

  it.each([[{ level: 'ok' } as ReputationState], ['error' as const]])('shows nothing for %j', async (answer) => {
    const fixture = await render(answer);
    expect(fixture.nativeElement.querySelector('[data-testid="reputation-banner"]')).toBeNull();
    fixture.destroy();
  });
});
