import { HttpClient, HttpParams } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { Observable, map } from 'rxjs';

import {
  Campaign,
  CampaignCreate,
  CampaignPage,
  CampaignStats,
  DeliveryReport,
  LedgerState,
  RecipientsAdded,
  RenderResponse,
  ReputationState,
  RetryResult,
  SampleRecipient,
  SendRequest,
  StatusChange,
  TemplateDetail,
  TemplateSummary,
} from './models';

export type CampaignAction = 'pause' | 'resume' | 'cancel';

/**
 * The Herald REST APIs, called on the dashboard's own origin: the gateway (dev-server proxy, nginx or the load
 * balancer) routes each path to its service, so no URL here names a service.
 */
@Injectable({ providedIn: 'root' })
export class HeraldApi {
  private readonly http = inject(HttpClient);

  listCampaigns(nextToken?: string | null, limit = 25): Observable<CampaignPage> {
    let params = new HttpParams().set('limit', limit);
    if (nextToken) {
      params = params.set('nextToken', nextToken);
    }
    return this.http.get<CampaignPage>('/campaigns', { params });
  }

  getCampaign(id: string): Observable<Campaign> {
    return this.http.get<Campaign>(`/campaigns/${encodeURIComponent(id)}`);
  }

  createCampaign(body: CampaignCreate): Observable<Campaign> {
    return this.http.post<Campaign>('/campaigns', body);
  }

  /** Appends recipients as CSV (a header row with `email`; other columns become personalisation data). */
  addRecipientsCsv(id: string, csv: string): Observable<RecipientsAdded> {
    return this.http.post<RecipientsAdded>(`/campaigns/${encodeURIComponent(id)}/recipients`, csv, {
      headers: { 'Content-Type': 'text/csv' },
    });
  }

  send(id: string, body: SendRequest): Observable<StatusChange> {
    return this.http.post<StatusChange>(`/campaigns/${encodeURIComponent(id)}/send`, body);
  }

  change(id: string, action: CampaignAction): Observable<StatusChange> {
    return this.http.post<StatusChange>(`/campaigns/${encodeURIComponent(id)}/${action}`, null);
  }

  /** The campaign's first stored recipient: what the template preview starts from. */
  sampleRecipient(id: string): Observable<SampleRecipient> {
    return this.http.get<SampleRecipient>(`/campaigns/${encodeURIComponent(id)}/sample-recipient`);
  }

  retryFailed(id: string): Observable<RetryResult> {
    return this.http.post<RetryResult>(`/campaigns/${encodeURIComponent(id)}/retry-failed`, null);
  }

  /** A page of the delivery report (analytics), filtered by ledger states (all when none). */
  report(id: string, states: readonly LedgerState[], cursor: string | null, limit = 50): Observable<DeliveryReport> {
    let params = new HttpParams().set('limit', limit);
    for (const state of states) {
      params = params.append('state', state);
    }
    if (cursor) {
      params = params.set('cursor', cursor);
    }
    return this.http.get<DeliveryReport>(`/campaigns/${encodeURIComponent(id)}/report`, { params });
  }

  /** The whole report as CSV (the token travels in the header, so the file is fetched, then saved). */
  reportCsv(id: string, states: readonly LedgerState[]): Observable<Blob> {
    let params = new HttpParams();
    for (const state of states) {
      params = params.append('state', state);
    }
    return this.http.get(`/campaigns/${encodeURIComponent(id)}/report`, {
      params,
      headers: { Accept: 'text/csv' },
      responseType: 'blob',
    });
  }

  /** The reputation guard's verdict on the tenant (the banner over the campaign pages). */
  reputation(): Observable<ReputationState> {
    return this.http.get<ReputationState>('/reputation');
  }

  stats(id: string): Observable<CampaignStats> {
    return this.http.get<CampaignStats>(`/campaigns/${encodeURIComponent(id)}/stats`);
  }

  listTemplates(): Observable<TemplateSummary[]> {
    return this.http.get<{ templates: TemplateSummary[] }>('/templates').pipe(map((answer) => answer.templates));
  }

  getTemplate(id: string, version?: number | null): Observable<TemplateDetail> {
    let params = new HttpParams();
    if (version) {
      params = params.set('version', version);
    }
    return this.http.get<TemplateDetail>(`/templates/${encodeURIComponent(id)}`, { params });
  }

  saveTemplate(id: string, body: { name?: string; subject: string; html: string; text?: string }): Observable<unknown> {
    return this.http.put(`/templates/${encodeURIComponent(id)}`, body);
  }

  /** The template service's render API for one sample recipient (the preview). */
  render(templateId: string, version: number | null, email: string, data: Record<string, unknown>): Observable<RenderResponse> {
    const body: Record<string, unknown> = { recipients: [{ email, data }] };
    if (version) {
      body['version'] = version;
    }
    return this.http.post<RenderResponse>(`/templates/${encodeURIComponent(templateId)}/render`, body);
  }
}
