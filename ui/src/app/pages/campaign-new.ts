import { ChangeDetectionStrategy, Component, computed, inject, signal } from '@angular/core';
import { FormsModule } from '@angular/forms';
import { Router, RouterLink } from '@angular/router';
import { firstValueFrom } from 'rxjs';

import { HeraldApi } from '../core/api';
import { describeError } from '../core/errors';
import { TemplateSummary } from '../core/models';
import { DEMO_TEMPLATE, demoRecipients, recipientRows, recipientsCsv } from './recipients-text';

/** Creates a draft campaign, then uploads its recipients as CSV (the campaign service validates every row). */
@Component({
  selector: 'app-campaign-new',
  imports: [FormsModule, RouterLink],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <section class="card" aria-labelledby="new-title">
      <h1 id="new-title">New campaign</h1>
      <form (ngSubmit)="create()" #form="ngForm">
        <div class="grid two">
          <div class="field">
            <label for="name">Name</label>
            <input id="name" name="name" required maxlength="200" [(ngModel)]="name" />
          </div>
          <div class="field">
            <label for="template">Template</label>
            <select id="template" name="template" required [(ngModel)]="templateId" aria-describedby="template-help">
              @for (t of templates(); track t.templateId) {
                <option [value]="t.templateId">{{ t.templateId }} (v{{ t.latestVersion }})</option>
              }
            </select>
            <p id="template-help" class="help">
              @if (templates().length === 0) {
                No template yet.
                <button type="button" class="link" (click)="createDemoTemplate()" [disabled]="busy()">Create the demo template “newsletter”</button>
              } @else {
                Saved with the template service’s <code>PUT /templates/&#123;id&#125;</code>.
              }
            </p>
          </div>
          <div class="field">
            <label for="from">From address</label>
            <input id="from" name="from" type="email" required [(ngModel)]="fromAddress" autocomplete="email" />
          </div>
          <div class="field">
            <label for="from-name">From name (optional)</label>
            <input id="from-name" name="fromName" maxlength="200" [(ngModel)]="fromName" />
          </div>
        </div>
        <div class="field">
          <label for="recipients">Recipients</label>
          <textarea
            id="recipients"
            name="recipients"
            rows="8"
            spellcheck="false"
            aria-describedby="recipients-help"
            [ngModel]="recipients()"
            (ngModelChange)="recipients.set($event)"
          ></textarea>
          <p id="recipients-help" class="help">
            One address per line, or CSV with a header row naming an <code>email</code> column (other columns become
            template variables, e.g. <code>first_name</code>). {{ rows() }} rows.
            <button type="button" class="link" (click)="fillDemo()">Fill with 200 demo recipients</button>
          </p>
        </div>
        @if (error()) {
          <p class="error" role="alert" data-testid="form-error">{{ error() }}</p>
        }
        <div class="actions">
          <button type="submit" class="primary" [disabled]="busy() || !form.valid || !templateId">Create draft</button>
          <a routerLink="/dashboard">Back to campaigns</a>
        </div>
      </form>
    </section>
  `,
})
export class CampaignNew {
  private readonly api = inject(HeraldApi);
  private readonly router = inject(Router);

  name = '';
  templateId = '';
  fromAddress = 'news@example.com';
  fromName = '';
  readonly recipients = signal('');
  readonly rows = computed(() => recipientRows(this.recipients()));
  readonly templates = signal<TemplateSummary[]>([]);
  readonly busy = signal(false);
  readonly error = signal<string | null>(null);

  constructor() {
    this.loadTemplates();
  }

  fillDemo(): void {
    this.recipients.set(demoRecipients(200));
    if (!this.name) {
      this.name = `Demo ${new Date().toLocaleString()}`;
    }
  }

  async createDemoTemplate(): Promise<void> {
    this.busy.set(true);
    try {
      await firstValueFrom(this.api.saveTemplate('newsletter', DEMO_TEMPLATE));
      this.templateId = 'newsletter';
      this.loadTemplates();
      this.error.set(null);
    } catch (error) {
      this.error.set(describeError(error));
    } finally {
      this.busy.set(false);
    }
  }

  async create(): Promise<void> {
    this.busy.set(true);
    this.error.set(null);
    try {
      const campaign = await firstValueFrom(
        this.api.createCampaign({
          name: this.name.trim(),
          templateId: this.templateId,
          fromAddress: this.fromAddress.trim(),
          ...(this.fromName.trim() ? { fromName: this.fromName.trim() } : {}),
          recipients: [],
        }),
      );
      const csv = recipientsCsv(this.recipients());
      if (csv) {
        await firstValueFrom(this.api.addRecipientsCsv(campaign.campaignId, csv));
      }
      void this.router.navigate(['/dashboard/campaigns', campaign.campaignId]);
    } catch (error) {
      this.error.set(describeError(error));
    } finally {
      this.busy.set(false);
    }
  }

  private loadTemplates(): void {
    this.api.listTemplates().subscribe({
      next: (templates) => {
        this.templates.set(templates);
        if (!this.templateId && templates.length > 0) {
          this.templateId = templates[0].templateId;
        }
      },
      error: (error: unknown) => this.error.set(describeError(error)),
    });
  }
}
