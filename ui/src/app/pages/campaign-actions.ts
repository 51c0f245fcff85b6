import { CampaignStatus } from '../core/models';

export type Action = 'send' | 'pause' | 'resume' | 'cancel' | 'retry-failed';

/**
 * Which actions the campaign's status allows, as the campaign service's rules say (SPEC.md and the README).
 * The buttons of the others are disabled; the service still decides, and its refusal (a 409 when the status moved
 * on meanwhile) is shown in words.
 */
export function allowedActions(status: CampaignStatus): ReadonlySet<Action> {
  switch (status) {
    case 'draft':
      return new Set<Action>(['send', 'cancel']);
    case 'scheduled':
      return new Set<Action>(['cancel']);
    case 'sending':
      return new Set<Action>(['pause', 'cancel', 'retry-failed']);
    case 'paused':
      return new Set<Action>(['resume', 'cancel', 'retry-failed']);
    case 'sent':
      return new Set<Action>(['retry-failed']);
    default:
      return new Set<Action>();
  }
}

/** The send request's `sendAt`: "immediate", or the chosen local date and time as an ISO-8601 instant. */
export function sendAtValue(mode: 'now' | 'later', localDateTime: string): string {
  if (mode === 'now') {
    return 'immediate';
  }
  const when = new Date(localDateTime);
  if (!localDateTime || Number.isNaN(when.getTime())) {
    throw new Error('Choose a date and time to schedule the campaign.');
  }
  return when.toISOString();
}

/** A throttle field's value: a whole number above zero, or undefined when left empty. */
export function throttleValue(raw: string | number | null | undefined, label: string): number | undefined {
  if (raw === null || raw === undefined || String(raw).trim() === '') {
    return undefined;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`${label} must be a whole number above zero.`);
  }
  return value;
}
