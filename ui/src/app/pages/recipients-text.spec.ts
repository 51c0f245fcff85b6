import { demoRecipients, recipientRows, recipientsCsv } from './recipients-text';

describe('recipientsCsv', () => {
  it('adds an email header to a plain list of addresses and drops blank lines', () => {
    expect(recipientsCsv('ada@example.com\r\n\n  bob@example.com  \n')).toBe('email\nada@example.com\nbob@example.com\n');
  });

  it('keeps a CSV that already has its header (any case, quoted or not), other columns included', () => {
    expect(recipientsCsv('Email,first_name\nada@example.com,Ada')).toBe('Email,first_name\nada@example.com,Ada\n');
    expect(recipientsCsv('"email","first_name"\n"a@b.co","A"')).toBe('"email","first_name"\n"a@b.co","A"\n');
  });

  it('is empty for empty input', () => {
    expect(recipientsCsv(' \n \n')).toBe('');
    expect(recipientRows('')).toBe(0);
  });

  it('counts data rows without the header', () => {
    expect(recipientRows('a@example.com\nb@example.com')).toBe(2);
    expect(recipientRows('email,first_name\na@example.com,A')).toBe(1);
  });
});

describe('demoRecipients', () => {
  it('has the requested number of rows, simulator addresses, malformed ones and one duplicate', () => {
    const csv = demoRecipients(50);
    const rows = csv.trimEnd().split('\n');
    expect(rows[0]).toBe('email,first_name');
    expect(rows.length - 1).toBe(50);
    const emails = rows.slice(1).map((r) => r.split(',')[0]);
    expect(emails).toContain('bounce@simulator.amazonses.com');
    expect(emails).toContain('complaint@simulator.amazonses.com');
    expect(emails).toContain('not-an-address');
    expect(emails.length - new Set(emails).size).toBe(1);
  });
});
