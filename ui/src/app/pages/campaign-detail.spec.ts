import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';
import { provideRouter } from '@angular/router';

import { Campaign } from '../core/models';
import { Session } from '../core/session';
import { StatsStreams } from '../core/stats-stream';
import { CampaignDetail } from './campaign-detail';

function token(roles: string[]): string {
  const part = (value: object) => btoa(JSON.stringify(value)).replace(/=+$/, '');
  return `${part({ alg: 'HS256' })}.${part({ sub: 'u', tenant_id: 'acme', roles, exp: Date.now() / 1000 + 600 })}.sig`;
}

const CAMPAIGN: Campaign = {
  campaignId: 'camp_x', name: 'Spring sale', templateId: 'newsletter', templateVersion: 2, fromAddress: 'news@example.com',
  fromName: null, replyTo: null, tags: {}, status: 'sending', statusReason: null, createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z', sendAt: null, throttle: null, priority: 'normal',
  counts: { recipients: 12, accepted: 10, invalid: 2, duplicates: 1, sent: 3, failed: 0, suppressed: 0, unknown: 0, final: 3 },
};

describe('CampaignDetail', () => {
  let http: HttpTestingController;

  async function render(roles: string[]) {
    TestBed.configureTestingModule({
      providers: [
        provideRouter([]),
        provideHttpClient(),
        provideHttpClientTesting(),
        // The live stream is tested on its own; here it stays silent.
        { provide: StatsStreams, useValue: { open: () => ({ stats: () => null, state: () => 'connecting', problem: () => null, close: () => {} }) } },
      ],
    });
    sessionStorage.clear();
    TestBed.inject(Session).signIn(token(roles));
    http = TestBed.inject(HttpTestingController);
    const fixture = TestBed.createComponent(CampaignDetail);
    fixture.componentRef.setInput('id', 'camp_x');
    fixture.detectChanges();
    http.expectOne('/campaigns/camp_x').flush(CAMPAIGN);
    http.expectOne('/reputation').flush({ level: 'ok' }); // the banner: nothing to say
    http.expectOne('/campaigns/camp_x/sample-recipient').flush({ email: 'grace@example.com', data: { first_name: 'Grace' } });
    await fixture.whenStable();
    return fixture;
  }

  function button(element: HTMLElement, name: string): HTMLButtonElement {
    return [...element.querySelectorAll('button')].find((b) => b.textContent?.trim() === name)!;
  }

  it('enables the actions the status allows, for a marketer', async () => {
    const element = (await render(['marketer'])).nativeElement as HTMLElement;
    expect(element.querySelector('[data-testid="status"]')?.textContent).toBe('sending');
    expect(button(element, 'Pause').disabled).toBe(false);
    expect(button(element, 'Resume').disabled).toBe(true);
    expect(button(element, 'Cancel campaign').disabled).toBe(false);
    expect(element.querySelector('[data-testid="recipients-summary"]')?.textContent).toContain('Invalid at intake2');
  });

  it('shows a refused action as the service’s sentence and reads the campaign again', async () => {
    const fixture = await render(['marketer']);
    const element = fixture.nativeElement as HTMLElement;
    button(element, 'Pause').click();
    http
      .expectOne({ method: 'POST', url: '/campaigns/camp_x/pause' })
      .flush({ error: 'InvalidTransition', detail: 'A sent campaign cannot be paused.' }, { status: 409, statusText: 'Conflict' });
    await new Promise((resolve) => setTimeout(resolve)); // the refusal settles, then the campaign is read again
    http.expectOne('/campaigns/camp_x').flush({ ...CAMPAIGN, status: 'sent' });
    await fixture.whenStable();
    const alert = element.querySelector('[data-testid="action-error"]')!;
    expect(alert.textContent).toBe('Invalid transition: A sent campaign cannot be paused.');
    expect(alert.getAttribute('role')).toBe('alert');
    expect(element.querySelector('[data-testid="status"]')?.textContent).toBe('sent');
    expect(button(element, 'Pause').disabled).toBe(true);
  });

  /** Pause (the page showing `paused` before the answer when `shownFirst`), then the campaign is sent meanwhile: the
   * notice after the pause's answer, and after `sent`. */
  async function pauseThenSent(shownFirst: boolean): Promise<[string | null, string | null]> {
    const fixture = await render(['marketer']);
    const element = fixture.nativeElement as HTMLElement;
    const note = () => element.querySelector('[data-testid="action-note"]')?.textContent ?? null;
    const show = async (status: Campaign['status']) => {
      fixture.componentInstance.campaign.set({ ...CAMPAIGN, status });
      fixture.detectChanges();
      await fixture.whenStable();
      fixture.detectChanges();
    };
    button(element, 'Pause').click();
    if (shownFirst) {
      await show('paused'); // the live stream (here: the campaign as read) reports it before the answer arrives
    }
    http.expectOne({ method: 'POST', url: '/campaigns/camp_x/pause' }).flush({ campaignId: 'camp_x', status: 'paused' });
    await new Promise((resolve) => setTimeout(resolve));
    http.expectOne('/campaigns/camp_x').flush({ ...CAMPAIGN, status: 'paused' });
    await fixture.whenStable();
    fixture.detectChanges();
    const paused = note();
    await show('sent'); // someone resumes it and the campaign finishes
    return [paused, note()];
  }

  it('drops the action notice once the campaign has moved on from the status it reported', async () => {
    expect(await pauseThenSent(false)).toEqual(['Done: the campaign is paused.', null]);
  });

  it('drops the action notice when the page showed the reported status before the answer came', async () => {
    expect(await pauseThenSent(true)).toEqual(['Done: the campaign is paused.', null]);
  });

  it('starts the template preview from the campaign’s first recipient', async () => {
    const fixture = await render(['viewer']);
    fixture.detectChanges();
    await fixture.whenStable();
    const element = fixture.nativeElement as HTMLElement;
    expect((element.querySelector('#sample-email') as HTMLInputElement).value).toBe('grace@example.com');
    expect(JSON.parse((element.querySelector('#sample-data') as HTMLTextAreaElement).value)).toEqual({ first_name: 'Grace' });
  });

  it('lets a viewer watch but not act', async () => {
    const element = (await render(['viewer'])).nativeElement as HTMLElement;
    for (const name of ['Pause', 'Resume', 'Cancel campaign', 'Retry failed']) {
      expect(button(element, name).disabled).toBe(true);
    }
    expect(element.textContent).toContain('need the marketer role');
  });

  afterEach(() => http.verify());
});
