import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, DestroyRef, computed, effect, inject, input, signal, untracked } from '@angular/core';
import { FormsModule } from '@angular/forms';
import { RouterLink } from '@angular/router';
import { firstValueFrom } from 'rxjs';

import { HeraldApi } from '../core/api';
import { describeError } from '../core/errors';
import { hasRole } from '../core/jwt';
import { Campaign, CampaignStatus, Priority, SampleRecipient } from '../core/models';
import { Session } from '../core/session';
import { StatsStream, StatsStreams } from '../core/stats-stream';
import { LiveView } from '../live/live-view';
import { SendRateSeries } from '../live/send-rate';
import { Action, allowedActions, sendAtValue, throttleValue } from './campaign-actions';
import { DeliveryReportView } from './delivery-report';
import { ReputationBanner } from './reputation-banner';
import { TemplatePreview } from './template-preview';

const CHART_MINUTES = 10;

/** One campaign: recipients, template preview, the send form, the actions and, once sent, the live view. */
@Component({
  selector: 'app-campaign-detail',
  imports: [DatePipe, FormsModule, RouterLink, LiveView, TemplatePreview, DeliveryReportView, ReputationBanner],
  changeDetection: ChangeDetectionStrategy.OnPush,
  templateUrl: './campaign-detail.html',
})
export class CampaignDetail {
  /** The route's `:id`. */
  readonly id = input.required<string>();

  private readonly api = inject(HeraldApi);
  private readonly streams = inject(StatsStreams);
  private readonly session = inject(Session);
  private stream: StatsStream | null = null;
  private readonly series = new SendRateSeries();

  readonly campaign = signal<Campaign | null>(null);
  readonly loadError = signal<string | null>(null);
  readonly actionError = signal<string | null>(null);
  readonly actionNote = signal<string | null>(null);
  readonly busy = signal<Action | null>(null);
  readonly live = signal<StatsStream | null>(null);
  readonly now = signal(Date.now());
  readonly showReport = signal(false);
  readonly sample = signal<SampleRecipient | null>(null);
  private sampleAsked = false;
  /** The status an action's notice reported, and whether the page has shown it since: once the campaign moves on
   * from it, the notice would be stale. */
  private readonly notedStatus = signal<{ status: CampaignStatus; seen: boolean } | null>(null);

  /** The freshest status: the live stream's once it answers, else the campaign as last read. */
  readonly status = computed<CampaignStatus | null>(() => this.live()?.stats()?.status ?? this.campaign()?.status ?? null);
  readonly statusReason = computed(() => {
    const stats = this.live()?.stats();
    return stats ? (stats.statusReason ?? null) : (this.campaign()?.statusReason ?? null);
  });
  /** Viewers watch; acting on a campaign needs the marketer role (the services refuse it with a 403 otherwise). */
  readonly canAct = computed(() => hasRole(this.session.claims(), 'marketer'));
  readonly allowed = computed(() => {
    const status = this.status();
    return status && this.canAct() ? allowedActions(status) : new Set<Action>();
  });
  readonly buckets = computed(() => {
    this.live()?.stats(); // recompute on every stats event as well as on the clock
    return this.series.buckets(this.now(), CHART_MINUTES);
  });

  // The send form.
  sendMode: 'now' | 'later' = 'now';
  sendAtLocal = '';
  emailsPerMinute = '';
  emailsPerHour = '';
  priority: Priority = 'normal';

  constructor() {
    effect(() => {
      const id = this.id();
      untracked(() => this.load(id));
    });
    effect(() => {
      // The stream saw the status change (the send's fan-out ended, a reputation guard paused it, someone else
      // acted): read the campaign again for its new counts and reason.
      const streamed = this.live()?.stats()?.status;
      if (streamed && streamed !== untracked(() => this.campaign()?.status)) {
        untracked(() => this.load(this.id()));
      }
    });
    effect(() => {
      // "Done: the campaign is sending." must not stay up once the campaign is sent (or paused by the guard).
      const status = this.status();
      const noted = untracked(() => this.notedStatus());
      if (noted === null || status === null) {
        return;
      }
      if (status === noted.status) {
        if (!noted.seen) {
          untracked(() => this.notedStatus.set({ status, seen: true }));
        }
      } else if (noted.seen) {
        untracked(() => {
          this.actionNote.set(null);
          this.notedStatus.set(null);
        });
      }
    });
    effect(() => {
      const stats = this.live()?.stats();
      if (stats) {
        untracked(() => this.series.record(Date.now(), stats.sent));
      }
    });
    const clock = setInterval(() => this.now.set(Date.now()), 5000);
    inject(DestroyRef).onDestroy(() => {
      clearInterval(clock);
      this.stream?.close();
    });
  }

  async send(): Promise<void> {
    let body;
    try {
      const minute = throttleValue(this.emailsPerMinute, 'Emails per minute');
      const hour = throttleValue(this.emailsPerHour, 'Emails per hour');
      const throttle = minute || hour ? { ...(minute ? { emailsPerMinute: minute } : {}), ...(hour ? { emailsPerHour: hour } : {}) } : undefined;
      body = { sendAt: sendAtValue(this.sendMode, this.sendAtLocal), priority: this.priority, ...(throttle ? { throttle } : {}) };
    } catch (error) {
      this.actionNote.set(null);
      this.actionError.set(describeError(error));
      return;
    }
    await this.run('send', () => firstValueFrom(this.api.send(this.id(), body)), (answer) => this.noted(answer.status, `Accepted: the campaign is ${answer.status}.`));
  }

  async act(action: 'pause' | 'resume' | 'cancel'): Promise<void> {
    await this.run(action, () => firstValueFrom(this.api.change(this.id(), action)), (answer) => this.noted(answer.status, `Done: the campaign is ${answer.status}.`));
  }

  async retryFailed(): Promise<void> {
    await this.run(
      'retry-failed',
      () => firstValueFrom(this.api.retryFailed(this.id())),
      (answer) => `Retry ${answer.retry}: ${answer.requeued} failed recipients queued again in ${answer.batches} batches.`,
    );
  }

  /** Read the campaign again (after the report's retry-failed). */
  reload(): void {
    this.load(this.id());
  }

  private noted(status: CampaignStatus, text: string): string {
    // The page may show that status already (the live stream can report it before the action's answer arrives):
    // then it has been seen, and the next move makes the notice stale.
    this.notedStatus.set({ status, seen: this.status() === status });
    return text;
  }

  private async run<T>(action: Action, call: () => Promise<T>, note: (answer: T) => string): Promise<void> {
    this.busy.set(action);
    this.actionError.set(null);
    this.actionNote.set(null);
    try {
      this.actionNote.set(note(await call()));
    } catch (error) {
      this.actionError.set(describeError(error));
    } finally {
      this.busy.set(null);
      this.load(this.id()); // what happened, whoever did it, is now the campaign's state
    }
  }

  private load(id: string): void {
    this.api.getCampaign(id).subscribe({
      next: (campaign) => {
        this.campaign.set(campaign);
        this.loadError.set(null);
        if (!this.sampleAsked) {
          // Once: the preview starts from the first recipient; without one it keeps its own example.
          this.sampleAsked = true;
          this.api.sampleRecipient(id).subscribe({ next: (sample) => this.sample.set(sample), error: () => {} });
        }
        // A draft has nothing to watch yet; from the send on, the stream follows it.
        if (campaign.status !== 'draft' && this.stream === null) {
          this.stream = this.streams.open(id);
          this.live.set(this.stream);
        }
      },
      error: (error: unknown) => this.loadError.set(describeError(error)),
    });
  }
}
