import { ChangeDetectionStrategy, Component, computed, input } from '@angular/core';

import { CampaignStats } from '../core/models';
import { StreamState } from '../core/stats-stream';
import { RateChart } from './rate-chart';
import { MinuteBucket } from './send-rate';
import { countersOf, finalRecipients, percent, progressOf } from './stats-math';

/** The live view: progress (final recipients ÷ total), counters with their rates, and sends per minute. */
@Component({
  selector: 'app-live-view',
  imports: [RateChart],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <section class="card live" aria-labelledby="live-title">
      <h2 id="live-title">Live delivery</h2>
      <p class="stream-state" [class.warn]="streamState() !== 'live'" data-testid="stream-state">
        @switch (streamState()) {
          @case ('live') { Live: updates as they happen. }
          @case ('connecting') { Connecting to live statistics… }
          @case ('reconnecting') { {{ problem() }} }
          @case ('stopped') { {{ problem() ?? 'Live updates stopped.' }} }
        }
      </p>
      @if (stats(); as s) {
        <div class="progress-wrap">
          <div
            class="progress"
            role="progressbar"
            aria-label="Recipients with a final outcome"
            aria-valuemin="0"
            [attr.aria-valuemax]="s.recipients"
            [attr.aria-valuenow]="final()"
            [attr.aria-valuetext]="progressText()"
            data-testid="progress"
          >
            <div class="progress-fill" [style.width.%]="progress() * 100"></div>
          </div>
          <p class="progress-text" data-testid="progress-text">{{ progressText() }}</p>
        </div>
        <dl class="counters">
          @for (c of counters(); track c.key) {
            <div class="counter" [attr.data-counter]="c.key">
              <dt>{{ c.label }}</dt>
              <dd>
                <span class="count" data-testid="count">{{ c.value }}</span>
                @if (c.rate) {
                  <span class="rate">{{ c.rate }}</span>
                }
              </dd>
            </div>
          }
        </dl>
        <app-rate-chart [buckets]="buckets()" />
      } @else {
        <p>Waiting for the first statistics…</p>
      }
    </section>
  `,
})
export class LiveView {
  readonly stats = input.required<CampaignStats | null>();
  readonly buckets = input.required<MinuteBucket[]>();
  readonly streamState = input.required<StreamState>();
  readonly problem = input<string | null>(null);

  readonly counters = computed(() => {
    const s = this.stats();
    return s ? countersOf(s) : [];
  });
  readonly final = computed(() => {
    const s = this.stats();
    return s ? finalRecipients(s) : 0;
  });
  readonly progress = computed(() => {
    const s = this.stats();
    return s ? progressOf(s) : 0;
  });
  readonly progressText = computed(() => {
    const s = this.stats();
    return s ? `${this.final()} of ${s.recipients} recipients final (${percent(this.progress())})` : '';
  });
}
