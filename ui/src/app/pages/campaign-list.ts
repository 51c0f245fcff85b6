import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, computed, inject, signal } from '@angular/core';
import { RouterLink } from '@angular/router';

import { HeraldApi } from '../core/api';
import { describeError } from '../core/errors';
import { hasRole } from '../core/jwt';
import { Campaign } from '../core/models';
import { Session } from '../core/session';
import { ReputationBanner } from './reputation-banner';

/** The tenant's campaigns, newest first, with their status; a page at a time. */
@Component({
  selector: 'app-campaign-list',
  imports: [RouterLink, DatePipe, ReputationBanner],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <app-reputation-banner />
    <section aria-labelledby="list-title">
      <div class="title-row">
        <h1 id="list-title">Campaigns</h1>
        <div class="actions">
          <button type="button" (click)="reload()">Refresh</button>
          @if (canCreate()) {
            <a class="button primary" routerLink="/dashboard/new">New campaign</a>
          }
        </div>
      </div>
      @if (error()) {
        <p class="error" role="alert">{{ error() }}</p>
      }
      @if (loading() && campaigns().length === 0) {
        <p role="status">Loading campaigns…</p>
      } @else if (campaigns().length === 0 && !error()) {
        <p>
          No campaigns yet.
          @if (canCreate()) {
            <a routerLink="/dashboard/new">Create the first one</a>.
          }
        </p>
      } @else {
        <div class="table-wrap">
          <table class="campaigns">
            <caption class="visually-hidden">Campaigns, newest first</caption>
            <thead>
              <tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col" class="num">Recipients</th><th scope="col">Created</th></tr>
            </thead>
            <tbody>
              @for (c of campaigns(); track c.campaignId) {
                <tr>
                  <td><a [routerLink]="['/dashboard/campaigns', c.campaignId]">{{ c.name }}</a></td>
                  <td><span class="status" [attr.data-status]="c.status">{{ c.status }}</span></td>
                  <td class="num">{{ c.counts?.recipients ?? '' }}</td>
                  <td>{{ c.createdAt | date: 'medium' }}</td>
                </tr>
              }
            </tbody>
          </table>
        </div>
        @if (nextToken()) {
          <button type="button" (click)="more()" [disabled]="loading()">Load more</button>
        }
      }
    </section>
  `,
})
export class CampaignList {
  private readonly api = inject(HeraldApi);
  private readonly session = inject(Session);
  // A viewer's list is read-only: no way to a page whose every action the services would refuse.
  readonly canCreate = computed(() => hasRole(this.session.claims(), 'marketer'));
  readonly campaigns = signal<Campaign[]>([]);
  readonly nextToken = signal<string | null>(null);
  readonly loading = signal(false);
  readonly error = signal<string | null>(null);

  constructor() {
    this.reload();
  }

  reload(): void {
    this.campaigns.set([]);
    this.load(null);
  }

  more(): void {
    this.load(this.nextToken());
  }

  private load(token: string | null): void {
    this.loading.set(true);
    this.api.listCampaigns(token).subscribe({
      next: (page) => {
        this.campaigns.update((list) => [...list, ...page.campaigns]);
        this.nextToken.set(page.nextToken);
        this.error.set(null);
        this.loading.set(false);
      },
      error: (error: unknown) => {
        this.error.set(describeError(error));
        this.loading.set(false);
      },
    });
  }
}
