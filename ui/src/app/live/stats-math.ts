import { CampaignStats } from '../core/models';

/** Recipients with a final outcome (sent, failed, suppressed, invalid at intake or at send, unknown). */
export function finalRecipients(stats: CampaignStats): number {
  return Math.max(stats.recipients - stats.queued, 0);
}

/** The progress bar's fraction: final recipients ÷ all recipients (0 for an empty campaign), within [0, 1]. */
export function progressOf(stats: CampaignStats): number {
  if (stats.recipients <= 0) {
    return 0;
  }
  return Math.min(finalRecipients(stats) / stats.recipients, 1);
}

/** A fraction as a percentage with one decimal: 0.1234 → "12.3 %". */
export function percent(fraction: number): string {
  return `${(Math.round(fraction * 1000) / 10).toFixed(1)} %`;
}

export interface Counter {
  key: string;
  label: string;
  value: number;
  /** The rate shown under the count, with what it is a share of, or null. */
  rate: string | null;
}

function share(count: number, base: number, of: string): string | null {
  return base > 0 ? `${percent(count / base)} of ${of}` : null;
}

/** The live view's counters, in reading order, each with its rate (the analytics service's definitions). */
export function countersOf(stats: CampaignStats): Counter[] {
  return [
    { key: 'sent', label: 'Sent', value: stats.sent, rate: share(stats.sent, stats.recipients, 'recipients') },
    { key: 'delivered', label: 'Delivered', value: stats.delivered, rate: stats.sent > 0 ? `${percent(stats.deliveryRate)} of sent` : null },
    { key: 'bounced', label: 'Bounced', value: stats.bounced, rate: stats.sent > 0 ? `${percent(stats.bounceRate)} of sent` : null },
    { key: 'complained', label: 'Complained', value: stats.complained, rate: stats.sent > 0 ? `${percent(stats.complaintRate)} of sent` : null },
    { key: 'suppressed', label: 'Suppressed', value: stats.suppressed, rate: share(stats.suppressed, stats.recipients, 'recipients') },
    { key: 'invalid', label: 'Invalid', value: stats.invalid, rate: share(stats.invalid, stats.recipients, 'recipients') },
    { key: 'unknown', label: 'Unknown', value: stats.unknown, rate: share(stats.unknown, stats.recipients, 'recipients') },
    { key: 'failed', label: 'Failed', value: stats.failed, rate: share(stats.failed, stats.recipients, 'recipients') },
    { key: 'opened', label: 'Opens', value: stats.opened, rate: stats.delivered > 0 ? `${percent(stats.openRate ?? 0)} of delivered` : null },
    { key: 'clicked', label: 'Clicks', value: stats.clicked, rate: stats.delivered > 0 ? `${percent(stats.clickRate ?? 0)} of delivered` : null },
  ];
}
