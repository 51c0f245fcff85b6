import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';

import { DeliveryReport, ReportSummary } from '../core/models';
import { DeliveryReportView, csvFileName, stateCounts } from './delivery-report';

const SUMMARY: ReportSummary = {
  pending: 0, sending: 0, sent: 2, failed: 1, suppressed: 0, invalid: 0, unknown: 1, cancelled: 0,
  sesSendEvents: 2, reconciled: 2, inDoubt: 1,
};
const PAGE: DeliveryReport = {
  campaignId: 'camp_x',
  summary: SUMMARY,
  items: [
    { email: 'a@example.com', state: 'sent', messageId: 'm-1', attempts: 1, reason: null, sentAt: null, updatedAt: null },
    { email: 'f@example.com', state: 'failed', messageId: null, attempts: 2, reason: 'render_error', sentAt: null, updatedAt: null },
  ],
  nextCursor: 'c1',
};

describe('stateCounts and csvFileName', () => {
  it('keeps the states with recipients, in ledger order', () => {
    expect(stateCounts(SUMMARY)).toEqual([
      { state: 'sent', count: 2 },
      { state: 'failed', count: 1 },
      { state: 'unknown', count: 1 },
    ]);
  });

  it('names the file after the campaign and the filter', () => {
    expect(csvFileName('camp_x', [])).toBe('camp_x-report.csv');
    expect(csvFileName('camp_x', ['unknown', 'failed'])).toBe('camp_x-report-failed-unknown.csv');
  });
});

describe('DeliveryReportView', () => {
  let http: HttpTestingController;

  async function render(canRetry: boolean) {
    TestBed.configureTestingModule({ providers: [provideHttpClient(), provideHttpClientTesting()] });
    http = TestBed.inject(HttpTestingController);
    const fixture = TestBed.createComponent(DeliveryReportView);
    fixture.componentRef.setInput('campaignId', 'camp_x');
    fixture.componentRef.setInput('canRetry', canRetry);
    fixture.detectChanges();
    http.expectOne((r) => r.url === '/campaigns/camp_x/report' && r.params.getAll('state') === null).flush(PAGE);
    await fixture.whenStable();
    fixture.detectChanges();
    return fixture;
  }

  it('shows the counts and the rows, filters by state and pages on', async () => {
    const fixture = await render(false);
    const element = fixture.nativeElement as HTMLElement;
    expect(element.querySelector('[data-testid="report-summary"]')?.textContent).toContain('1 in doubt');
    expect(element.querySelectorAll('[data-testid="report-table"] tbody tr').length).toBe(2);
    expect([...element.querySelectorAll('button')].map((b) => b.textContent?.trim())).not.toContain('Retry failed');

    (element.querySelector('input[data-state="failed"]') as HTMLInputElement).click();
    const filtered = http.expectOne((r) => r.url === '/campaigns/camp_x/report' && r.params.getAll('state')?.join() === 'failed');
    expect(filtered.request.params.get('cursor')).toBeNull();
    filtered.flush({ ...PAGE, items: [PAGE.items[1]], nextCursor: 'c2' });
    await fixture.whenStable();
    fixture.detectChanges();
    expect(element.querySelectorAll('[data-testid="report-table"] tbody tr').length).toBe(1);

    [...element.querySelectorAll('button')].find((b) => b.textContent?.trim() === 'Show more')!.click();
    const next = http.expectOne((r) => r.url === '/campaigns/camp_x/report' && r.params.get('cursor') === 'c2');
    expect(next.request.params.getAll('state')).toEqual(['failed']);
    next.flush({ ...PAGE, items: [{ ...PAGE.items[1], email: 'g@example.com' }], nextCursor: null });
    await fixture.whenStable();
    fixture.detectChanges();
    expect(element.querySelectorAll('[data-testid="report-table"] tbody tr').length).toBe(2);
  });

  it('says an empty page cut short by the read bound is not the end, and searches on', async () => {
    const fixture = await render(false);
    const element = fixture.nativeElement as HTMLElement;
    (element.querySelector('input[data-state="unknown"]') as HTMLInputElement).click();
    http
      .expectOne((r) => r.url === '/campaigns/camp_x/report' && r.params.getAll('state')?.join() === 'unknown')
      .flush({ ...PAGE, items: [], nextCursor: 'c9', scanLimited: true });
    await fixture.whenStable();
    fixture.detectChanges();
    const empty = () => element.querySelector('[data-testid="report-empty"]')?.textContent?.trim();
    expect(empty()).toBe('None among the recipients searched so far: Show more searches on.');

    [...element.querySelectorAll('button')].find((b) => b.textContent?.trim() === 'Show more')!.click();
    http.expectOne((r) => r.params.get('cursor') === 'c9').flush({ ...PAGE, items: [], nextCursor: null });
    await fixture.whenStable();
    fixture.detectChanges();
    expect(empty()).toBe('No recipients in these states.');
  });

  it('fetches the CSV with text/csv and retries failed recipients', async () => {
    const fixture = await render(true);
    const element = fixture.nativeElement as HTMLElement;
    const retried = vi.fn();
    fixture.componentInstance.retried.subscribe(retried);
    URL.createObjectURL = vi.fn(() => 'blob:report');
    URL.revokeObjectURL = vi.fn();

    [...element.querySelectorAll('button')].find((b) => b.textContent?.trim() === 'Download CSV')!.click();
    const csv = http.expectOne((r) => r.url === '/campaigns/camp_x/report' && r.headers.get('Accept') === 'text/csv');
    expect(csv.request.responseType).toBe('blob');
    csv.flush(new Blob(['email,state\n']));
    await fixture.whenStable();

    [...element.querySelectorAll('button')].find((b) => b.textContent?.trim() === 'Retry failed')!.click();
    http.expectOne({ method: 'POST', url: '/campaigns/camp_x/retry-failed' })
      .flush({ campaignId: 'camp_x', status: 'sending', retry: 1, requeued: 1, batches: 1 });
    await new Promise((resolve) => setTimeout(resolve));
    http.expectOne((r) => r.url === '/campaigns/camp_x/report').flush(PAGE);
    await fixture.whenStable();
    fixture.detectChanges();
    expect(retried).toHaveBeenCalledTimes(1);
    expect(element.querySelector('[data-testid="report-note"]')?.textContent).toContain('1 failed recipients queued again');
  });

  afterEach(() => http.verify());
});
