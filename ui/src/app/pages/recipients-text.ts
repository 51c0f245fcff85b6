/**
 * What the new-campaign form sends as `text/csv`: the campaign service parses the CSV (quoting included) and
 * validates every address, so the browser only makes sure there is a header row naming the `email` column.
 */
export function recipientsCsv(text: string): string {
  const lines = text.split(/\r\n|\n|\r/).map((l) => l.trim()).filter((l) => l.length > 0);
  if (lines.length === 0) {
    return '';
  }
  const firstCell = lines[0].split(',')[0].replace(/^"|"$/g, '').trim().toLowerCase();
  const body = lines.join('\n') + '\n';
  return firstCell === 'email' ? body : `email\n${body}`;
}

/** How many data rows (recipients) the text holds, header excluded. */
export function recipientRows(text: string): number {
  const csv = recipientsCsv(text);
  return csv === '' ? 0 : csv.trimEnd().split('\n').length - 1;
}

const FIRST_NAMES = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Radia', 'Tim'];

/**
 * A demo list like `herald demo`'s: mostly deliverable addresses with a first name, plus the SES mailbox simulator's
 * bounce, complaint and suppression-list addresses, a few malformed addresses and a duplicate.
 */
export function demoRecipients(total: number): string {
  const rows = ['email,first_name'];
  const special = [
    'bounce@simulator.amazonses.com,Bounce',
    'complaint@simulator.amazonses.com,Complaint',
    'suppressionlist@simulator.amazonses.com,Suppressed',
    'not-an-address,Broken',
    'also broken@example,Broken',
  ];
  const regular = Math.max(total - special.length - 1, 1);
  for (let i = 1; i <= regular; i++) {
    rows.push(`reader${String(i).padStart(4, '0')}@example.com,${FIRST_NAMES[i % FIRST_NAMES.length]}`);
  }
  rows.push(...special, 'reader0001@example.com,Ada'); // the last one is a duplicate
  return rows.join('\n') + '\n';
}

/** The demo template, saved as `newsletter` when the tenant has no template yet. */
export const DEMO_TEMPLATE = {
  name: 'Newsletter',
  subject: '{{ first_name }}, the Herald newsletter is here',
  html:
    '<html><body><h1>Hello {{ first_name }}!</h1>' +
    '<p>This month: faster sends, live statistics and a suppression list that looks after your reputation.</p>' +
    '<p style="font-size:small"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>',
};
