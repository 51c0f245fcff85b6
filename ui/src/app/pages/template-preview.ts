import { ChangeDetectionStrategy, Component, effect, inject, input, signal } from '@angular/core';
import { FormsModule } from '@angular/forms';
import { DomSanitizer, SafeHtml } from '@angular/platform-browser';
import { firstValueFrom } from 'rxjs';

import { HeraldApi } from '../core/api';
import { describeError } from '../core/errors';
import { SampleRecipient } from '../core/models';

/** Parses the preview's sample data: a JSON object of template variables, or an error in words. */
export function parseSampleData(text: string): Record<string, unknown> {
  if (text.trim() === '') {
    return {};
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('Sample data must be JSON, for example {"first_name": "Ada"}.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('Sample data must be a JSON object of template variables.');
  }
  return value as Record<string, unknown>;
}

/** Renders the campaign's template for one sample recipient through the template service's render API. */
@Component({
  selector: 'app-template-preview',
  imports: [FormsModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <section class="card" aria-labelledby="preview-title">
      <h2 id="preview-title">Template preview</h2>
      <form (ngSubmit)="render()">
        <div class="field">
          <label for="sample-email">Sample recipient</label>
          <input id="sample-email" name="email" type="email" [(ngModel)]="email" />
        </div>
        <div class="field">
          <label for="sample-data">Sample data (JSON)</label>
          <textarea id="sample-data" name="data" rows="3" spellcheck="false" [(ngModel)]="data"></textarea>
        </div>
        <button type="submit" [disabled]="busy()">Render preview</button>
      </form>
      @if (error()) {
        <p class="error" role="alert" data-testid="preview-error">{{ error() }}</p>
      }
      @if (subject() !== null) {
        <p class="subject"><strong>Subject:</strong> <span data-testid="preview-subject">{{ subject() }}</span></p>
        <iframe class="preview" title="Rendered email" sandbox="" [srcdoc]="html()"></iframe>
      }
    </section>
  `,
})
export class TemplatePreview {
  readonly templateId = input.required<string>();
  readonly version = input<number | null>(null);
  /** The campaign's first recipient: the form starts from it, so the first preview renders real data. */
  readonly sample = input<SampleRecipient | null>(null);

  private readonly api = inject(HeraldApi);
  private readonly sanitizer = inject(DomSanitizer);

  email = 'ada@example.com';
  data = '{"first_name": "Ada"}';
  readonly busy = signal(false);
  readonly error = signal<string | null>(null);
  readonly subject = signal<string | null>(null);
  readonly html = signal<SafeHtml>('');

  constructor() {
    effect(() => {
      const sample = this.sample();
      if (sample?.email) {
        this.email = sample.email;
        this.data = JSON.stringify(sample.data);
      }
    });
  }

  async render(): Promise<void> {
    this.error.set(null);
    let data: Record<string, unknown>;
    try {
      data = parseSampleData(this.data);
    } catch (error) {
      this.error.set((error as Error).message);
      return;
    }
    this.busy.set(true);
    try {
      const answer = await firstValueFrom(this.api.render(this.templateId(), this.version(), this.email.trim(), data));
      const result = answer.results[0];
      if (!result || result.error !== undefined) {
        this.subject.set(null);
        this.error.set(`This recipient cannot be rendered: ${result?.error ?? 'no result'}`);
        return;
      }
      this.subject.set(result.subject ?? '');
      // The iframe is sandboxed without scripts: the template's HTML is shown, never run, on this origin.
      this.html.set(this.sanitizer.bypassSecurityTrustHtml(result.html ?? ''));
    } catch (error) {
      this.subject.set(null);
      this.error.set(describeError(error));
    } finally {
      this.busy.set(false);
    }
  }
}
