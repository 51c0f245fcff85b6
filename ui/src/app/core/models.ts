/** The shapes the Herald services answer (SPEC.md and the README's extensions), as the dashboard reads them. */

export type CampaignStatus = 'draft' | 'scheduled' | 'sending' | 'paused' | 'sent' | 'cancelled' | 'failed';
export type Priority = 'high' | 'normal' | 'low';

export interface CampaignCounts {
  recipients: number;
  accepted: number;
  invalid: number;
  duplicates: number;
  sent: number;
  failed: number;
  suppressed: number;
  unknown: number;
  final: number;
}

export interface Throttle {
  emailsPerMinute?: number | null;
  emailsPerHour?: number | null;
}

export interface Campaign {
  campaignId: string;
  name: string;
  templateId: string;
  templateVersion: number | null;
  fromAddress: string;
  fromName: string | null;
  replyTo: string | null;
  tags: Record<string, string>;
  status: CampaignStatus;
  statusReason: string | null;
  createdAt: string;
  updatedAt: string;
  sendAt?: string | null;
  throttle?: Throttle | null;
  priority?: Priority | null;
  counts?: CampaignCounts;
}

export interface CampaignPage {
  campaigns: Campaign[];
  nextToken: string | null;
}

export interface RecipientIn {
  email: string;
  data?: Record<string, unknown>;
}

export interface CampaignCreate {
  name: string;
  templateId: string;
  fromAddress: string;
  fromName?: string;
  recipients: RecipientIn[];
}

export interface RecipientsAdded {
  accepted: number;
  invalid: number;
  duplicates: number;
  total: number;
}

export interface SendRequest {
  sendAt: string;
  throttle?: Throttle;
  priority: Priority;
}

export interface StatusChange {
  campaignId: string;
  status: CampaignStatus;
}

export interface RetryResult extends StatusChange {
  retry: number;
  requeued: number;
  batches: number;
}

/** `GET /campaigns/{id}/stats` and every `stats` event of the stream. */
export interface CampaignStats {
  campaignId: string;
  status: CampaignStatus;
  recipients: number;
  queued: number;
  sent: number;
  delivered: number;
  bounced: number;
  complained: number;
  rejected: number;
  failed: number;
  suppressed: number;
  invalid: number;
  unknown: number;
  opened: number;
  clicked: number;
  deliveryRate: number;
  bounceRate: number;
  complaintRate: number;
  updatedAt: string | null;
  softBounced?: number;
  machineOpened?: number;
  openRate?: number;
  clickRate?: number;
  statusReason?: string | null;
}

/** `GET /campaigns/{id}/sample-recipient`: the first stored recipient (`email` null while there is none). */
export interface SampleRecipient {
  email: string | null;
  data: Record<string, unknown>;
}

/** A recipient's state in the delivery ledger (`GET /campaigns/{id}/report`). */
export type LedgerState = 'pending' | 'sending' | 'sent' | 'failed' | 'suppressed' | 'invalid' | 'unknown' | 'cancelled';
export const LEDGER_STATES: readonly LedgerState[] = ['pending', 'sending', 'sent', 'failed', 'suppressed', 'invalid', 'unknown', 'cancelled'];

export interface ReportItem {
  email: string;
  state: LedgerState;
  messageId: string | null;
  attempts: number;
  reason: string | null;
  sentAt: string | null;
  updatedAt: string | null;
}

/** The whole campaign's counts: one per ledger state, then the SES Send events set against `sent`. */
export type ReportSummary = Record<LedgerState, number> & { sesSendEvents: number; reconciled: number; inDoubt: number };

export interface DeliveryReport {
  campaignId: string;
  summary: ReportSummary;
  items: ReportItem[];
  nextCursor: string | null;
  /** A sparse filter met too few recipients within what one page may read; `nextCursor` searches on. */
  scanLimited?: boolean;
}

export interface TemplateSummary {
  templateId: string;
  name?: string | null;
  latestVersion?: number;
  versions?: number[];
}

export interface TemplateDetail {
  templateId: string;
  version: number;
  name?: string | null;
  subject: string;
  html: string;
  text?: string | null;
}

export interface RenderResult {
  email: string;
  subject?: string;
  html?: string;
  text?: string;
  error?: string;
}

export interface RenderResponse {
  templateId: string | null;
  version: number | null;
  results: RenderResult[];
}

/** Every 4xx/5xx body: `{"error": "CampaignNotFound", "detail": "human sentence"}` (422 adds `fields`). */
export interface ApiErrorBody {
  error: string;
  detail: string;
  fields?: string[];
}

/** `GET /reputation`: the reputation guard's last verdict on the tenant over the last hour and day. */
export interface ReputationState {
  level: 'ok' | 'warn' | 'pause';
  scope?: string; // `tenant`, or `domain:{sending domain}`
  window?: string; // `1h` or `24h`
  reason?: string;
  at?: string;
}
