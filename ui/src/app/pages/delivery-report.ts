import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, inject, input, output, signal } from '@angular/core';
import { firstValueFrom } from 'rxjs';

import { HeraldApi } from '../core/api';
import { describeError } from '../core/errors';
import { LEDGER_STATES, LedgerState, ReportItem, ReportSummary } from '../core/models';

/** The summary's counts worth a tile: the states with recipients, in ledger order. */
export function stateCounts(summary: ReportSummary): { state: LedgerState; count: number }[] {
  return LEDGER_STATES.map((state) => ({ state, count: summary[state] ?? 0 })).filter((tile) => tile.count > 0);
}

/** The name the CSV is saved under. */
export function csvFileName(campaignId: string, states: readonly LedgerState[]): string {
  return `${campaignId}-report${states.length ? '-' + [...states].sort().join('-') : ''}.csv`;
}

/** Who got the campaign and who didn't: counts by state, a table filtered by state, the CSV, and retry-failed. */
@Component({
  selector: 'app-delivery-report',
  imports: [DatePipe],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <section class="card" aria-labelledby="report-title" data-testid="delivery-report">
      <h2 id="report-title">Delivery report</h2>
      @if (summary(); as s) {
        <ul class="tiles" data-testid="report-summary">
          @for (tile of tiles(); track tile.state) {
            <li><span class="count">{{ tile.count }}</span> {{ tile.state }}</li>
          }
          <li><span class="count">{{ s.sesSendEvents }}</span> SES Send events</li>
          <li><span class="count">{{ s.inDoubt }}</span> in doubt</li>
        </ul>
      }
      <fieldset class="filters">
        <legend>Show</legend>
        @for (state of states; track state) {
          <label class="inline">
            <input type="checkbox" [checked]="selected().includes(state)" (change)="toggle(state)" [attr.data-state]="state" />
            {{ state }}
          </label>
        }
      </fieldset>
      <div class="actions" role="group" aria-label="Report actions">
        <button type="button" (click)="download()" [disabled]="busy()">Download CSV</button>
        @if (canRetry()) {
          <button type="button" (click)="retry()" [disabled]="busy()">Retry failed</button>
        }
      </div>
      @if (error()) {
        <p class="error" role="alert" data-testid="report-error">{{ error() }}</p>
      }
      @if (note()) {
        <p class="notice" role="status" data-testid="report-note">{{ note() }}</p>
      }
      <table data-testid="report-table">
        <thead>
          <tr><th>Email</th><th>State</th><th>Attempts</th><th>Reason</th><th>Message id</th><th>Sent</th></tr>
        </thead>
        <tbody>
          @for (item of items(); track item.email) {
            <tr [attr.data-state]="item.state">
              <td>{{ item.email }}</td><td>{{ item.state }}</td><td>{{ item.attempts }}</td><td>{{ item.reason ?? '' }}</td>
              <td class="mono">{{ item.messageId ?? '' }}</td><td>{{ item.sentAt ? (item.sentAt | date: 'medium') : '' }}</td>
            </tr>
          } @empty {
            <tr>
              <td colspan="6" data-testid="report-empty">
                {{ cursor() ? 'None among the recipients searched so far: Show more searches on.' : 'No recipients in these states.' }}
              </td>
            </tr>
          }
        </tbody>
      </table>
      @if (cursor()) {
        <button type="button" (click)="more()" [disabled]="busy()">Show more</button>
      }
    </section>
  `,
})
export class DeliveryReportView {
  readonly campaignId = input.required<string>();
  /** Whether this caller may retry failed recipients (a marketer, on a campaign that allows it). */
  readonly canRetry = input(false);
  /** A retry-failed call was made: the campaign page reads the campaign again. */
  readonly retried = output<void>();

  private readonly api = inject(HeraldApi);
  readonly states = LEDGER_STATES;
  readonly selected = signal<LedgerState[]>([]);
  readonly summary = signal<ReportSummary | null>(null);
  readonly tiles = signal<{ state: LedgerState; count: number }[]>([]);
  readonly items = signal<ReportItem[]>([]);
  readonly cursor = signal<string | null>(null);
  readonly busy = signal(false);
  readonly error = signal<string | null>(null);
  readonly note = signal<string | null>(null);

  ngOnInit(): void {
    void this.load(false);
  }

  toggle(state: LedgerState): void {
    const now = this.selected();
    this.selected.set(now.includes(state) ? now.filter((s) => s !== state) : [...now, state]);
    void this.load(false);
  }

  more(): Promise<void> {
    return this.load(true);
  }

  async load(append: boolean): Promise<void> {
    this.busy.set(true);
    this.error.set(null);
    try {
      const page = await firstValueFrom(
        this.api.report(this.campaignId(), this.selected(), append ? this.cursor() : null),
      );
      this.summary.set(page.summary);
      this.tiles.set(stateCounts(page.summary));
      this.items.set(append ? [...this.items(), ...page.items] : page.items);
      this.cursor.set(page.nextCursor);
    } catch (error) {
      this.error.set(describeError(error));
    } finally {
      this.busy.set(false);
    }
  }

  async download(): Promise<void> {
    this.busy.set(true);
    this.error.set(null);
    try {
      const blob = await firstValueFrom(this.api.reportCsv(this.campaignId(), this.selected()));
      const url = URL.createObjectURL(blob);
      const link = document.createElement('a');
      link.href = url;
      link.download = csvFileName(this.campaignId(), this.selected());
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (error) {
      this.error.set(describeError(error));
    } finally {
      this.busy.set(false);
    }
  }

  async retry(): Promise<void> {
    this.busy.set(true);
    this.error.set(null);
    this.note.set(null);
    try {
      const answer = await firstValueFrom(this.api.retryFailed(this.campaignId()));
      this.note.set(`Retry ${answer.retry}: ${answer.requeued} failed recipients queued again.`);
      this.retried.emit();
    } catch (error) {
      this.error.set(describeError(error));
    } finally {
      this.busy.set(false);
    }
    await this.load(false);
  }
}
