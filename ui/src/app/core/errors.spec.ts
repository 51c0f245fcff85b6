import { HttpErrorResponse } from '@angular/common/http';

import { codeToWords, describeError } from './errors';

function httpError(status: number, error: unknown): HttpErrorResponse {
  return new HttpErrorResponse({ status, error, url: '/campaigns/camp_x/pause' });
}

describe('describeError', () => {
  it('says the error code in words, then the service’s own sentence', () => {
    const error = httpError(409, { error: 'InvalidTransition', detail: 'A sent campaign cannot be paused.' });
    expect(describeError(error)).toBe('Invalid transition: A sent campaign cannot be paused.');
  });

  it('names the fields of a 422', () => {
    const error = httpError(422, { error: 'ValidationError', detail: 'throttle.emailsPerMinute: must be > 0', fields: ['throttle.emailsPerMinute'] });
    expect(describeError(error)).toBe('Validation error: throttle.emailsPerMinute: must be > 0 (fields: throttle.emailsPerMinute)');
  });

  it('explains an unreachable service', () => {
    expect(describeError(httpError(0, new ProgressEvent('error')))).toMatch(/cannot be reached/);
  });

  it('falls back on what the status means when the body is not the error shape', () => {
    expect(describeError(httpError(409, 'conflict'))).toBe('Not possible in the campaign’s current state.');
    expect(describeError(httpError(502, '<html>Bad Gateway</html>'))).toMatch(/^The service failed \(HTTP 502\)/);
    expect(describeError(httpError(418, null))).toBe('The request failed (HTTP 418).');
  });

  it('passes plain errors through and never shows an object', () => {
    expect(describeError(new Error('boom'))).toBe('boom');
    expect(describeError({ weird: true })).toBe('Something went wrong.');
  });
});

describe('codeToWords', () => {
  it('splits camel case into a sentence', () => {
    expect(codeToWords('CampaignAlreadySending')).toBe('Campaign already sending');
    expect(codeToWords('NoRecipients')).toBe('No recipients');
  });
});
