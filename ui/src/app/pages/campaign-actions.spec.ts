import { allowedActions, sendAtValue, throttleValue } from './campaign-actions';

describe('allowedActions', () => {
  it.each([
    ['draft', ['send', 'cancel']],
    ['scheduled', ['cancel']],
    ['sending', ['pause', 'cancel', 'retry-failed']],
    ['paused', ['resume', 'cancel', 'retry-failed']],
    ['sent', ['retry-failed']],
    ['cancelled', []],
    ['failed', []],
  ] as const)('%s allows %j', (status, actions) => {
    expect([...allowedActions(status)].sort()).toEqual([...actions].sort());
  });
});

describe('sendAtValue', () => {
  it('sends now as "immediate"', () => {
    expect(sendAtValue('now', '')).toBe('immediate');
  });

  it('turns a local date and time into an ISO-8601 instant', () => {
    const local = '2030-01-15T10:30';
    expect(sendAtValue('later', local)).toBe(new Date(local).toISOString());
  });

  it('asks for a time when scheduling without one', () => {
    expect(() => sendAtValue('later', '')).toThrow(/Choose a date and time/);
  });
});

describe('throttleValue', () => {
  it('leaves an empty field out', () => {
    expect(throttleValue('', 'Emails per minute')).toBeUndefined();
    expect(throttleValue(null, 'Emails per minute')).toBeUndefined();
  });

  it('accepts a positive whole number', () => {
    expect(throttleValue('120', 'Emails per minute')).toBe(120);
    expect(throttleValue(5, 'Emails per hour')).toBe(5);
  });

  it.each(['0', '-3', '1.5', 'ten'])('refuses %s in words', (raw) => {
    expect(() => throttleValue(raw, 'Emails per minute')).toThrow('Emails per minute must be a whole number above zero.');
  });
});
