import { SseParser } from './sse';

describe('SseParser', () => {
  it('dispatches a named event on the blank line that ends it', () => {
    const parser = new SseParser();
    expect(parser.push('event: stats\ndata: {"sent":1}\n')).toEqual([]);
    expect(parser.push('\n')).toEqual([{ event: 'stats', data: '{"sent":1}', id: null }]);
  });

  it('joins data lines with newlines and defaults the type to message', () => {
    const parser = new SseParser();
    expect(parser.push('data: a\ndata:b\n\n')).toEqual([{ event: 'message', data: 'a\nb', id: null }]);
  });

  it('handles CRLF and CR line ends, including a CRLF split across chunks', () => {
    const parser = new SseParser();
    const events = [
      ...parser.push('event: stats\r\ndata: 1\r'),
      ...parser.push('\n\r'),
      ...parser.push('\nevent: stats\rdata: 2\r\r'),
    ];
    expect(events.map((e) => e.data)).toEqual(['1', '2']);
    expect(events.every((e) => e.event === 'stats')).toBe(true);
  });

  it('reassembles a field split in the middle of a chunk', () => {
    const parser = new SseParser();
    const events = [...parser.push('eve'), ...parser.push('nt: stats\nda'), ...parser.push('ta: {"a"'), ...parser.push(':2}\n\n')];
    expect(events).toEqual([{ event: 'stats', data: '{"a":2}', id: null }]);
  });

  it('ignores comments (keep-alive pings) and events without data', () => {
    const parser = new SseParser();
    expect(parser.push(': ping - 2026-01-01 00:00:00\n\nevent: ping\n\n')).toEqual([]);
    expect(parser.push('data: x\n\n')).toEqual([{ event: 'message', data: 'x', id: null }]);
  });

  it('keeps the last id and reads retry', () => {
    const parser = new SseParser();
    const events = parser.push('id: 7\nretry: 1500\ndata: x\n\ndata: y\n\n');
    expect(events.map((e) => e.id)).toEqual(['7', '7']);
    expect(parser.retryMs).toBe(1500);
  });

  it('does not carry an event type over to the next event', () => {
    const parser = new SseParser();
    const events = parser.push('event: stats\ndata: 1\n\ndata: 2\n\n');
    expect(events.map((e) => e.event)).toEqual(['stats', 'message']);
  });
});
