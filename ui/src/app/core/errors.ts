import { HttpErrorResponse } from '@angular/common/http';

import { ApiErrorBody } from './models';

function isApiError(body: unknown): body is ApiErrorBody {
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as ApiErrorBody).error === 'string' &&
    typeof (body as ApiErrorBody).detail === 'string'
  );
}

const BY_STATUS: Record<number, string> = {
  400: 'The request was refused.',
  401: 'Your token was refused: sign in again with a valid token.',
  403: 'Your role does not allow this action.',
  404: 'Not found: it does not exist, or it belongs to another tenant.',
  409: 'Not possible in the campaign’s current state.',
  413: 'The request is too large.',
  422: 'Some fields are not valid.',
  429: 'Too many requests: wait a moment and try again.',
};

/** Splits an error code such as `CampaignAlreadySending` into words: "Campaign already sending". */
export function codeToWords(code: string): string {
  const words = code.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * A sentence for the user from a failed API call: the service's own `detail` (SPEC error shape) when there is one,
 * prefixed by the error code in words; otherwise what the HTTP status means. Never a stack trace or raw JSON.
 */
export function describeError(error: unknown): string {
  if (!(error instanceof HttpErrorResponse)) {
    return error instanceof Error ? error.message : 'Something went wrong.';
  }
  if (error.status === 0) {
    return 'The Herald services cannot be reached. Is the stack running (make dev)?';
  }
  const body = error.error;
  if (isApiError(body)) {
    const fields = body.fields && body.fields.length > 0 ? ` (fields: ${body.fields.join(', ')})` : '';
    return `${codeToWords(body.error)}: ${body.detail}${fields}`;
  }
  const fallback = BY_STATUS[error.status];
  if (fallback) {
    return fallback;
  }
  return error.status >= 500
    ? `The service failed (HTTP ${error.status}). Try again; if it persists, check the service logs.`
    : `The request failed (HTTP ${error.status}).`;
}
