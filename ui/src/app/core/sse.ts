/**
 * A server-sent events parser for streams read with `fetch` (the browser's EventSource cannot send an
 * Authorization header). It follows the WHATWG event-stream rules: lines end with CRLF, LF or CR; a blank line
 * dispatches the event; `data` lines are joined with newlines; lines starting with `:` are comments (keep-alive pings).
 */

export interface SseEvent {
  event: string;
  data: string;
  id: string | null;
}

export class SseParser {
  private buffer = '';
  private pendingCR = false;
  private eventType = '';
  private dataLines: string[] = [];
  private lastId: string | null = null;
  /** Milliseconds the server asked the client to wait before reconnecting (`retry:` field), if it did. */
  retryMs: number | null = null;

  /** Feeds a decoded chunk; returns the events it completed, in order. */
  push(chunk: string): SseEvent[] {
    const events: SseEvent[] = [];
    let text = chunk;
    if (this.pendingCR && text.startsWith('\n')) {
      text = text.slice(1); // the LF of a CRLF split across chunks
    }
    this.pendingCR = false;
    this.buffer += text;
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const ch = this.buffer[i];
      if (ch !== '\n' && ch !== '\r') {
        continue;
      }
      const line = this.buffer.slice(start, i);
      if (ch === '\r') {
        if (i + 1 < this.buffer.length) {
          if (this.buffer[i + 1] === '\n') {
            i++;
          }
        } else {
          this.pendingCR = true;
        }
      }
      start = i + 1;
      const event = this.line(line);
      if (event) {
        events.push(event);
      }
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  private line(line: string): SseEvent | null {
    if (line === '') {
      return this.dispatch();
    }
    if (line.startsWith(':')) {
      return null;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) {
      value = value.slice(1);
    }
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.dataLines.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) {
          this.lastId = value;
        }
        break;
      case 'retry':
        if (/^\d+$/.test(value)) {
          this.retryMs = Number(value);
        }
        break;
      default:
        break; // unknown fields are ignored, as the standard says
    }
    return null;
  }

  private dispatch(): SseEvent | null {
    const type = this.eventType || 'message';
    const lines = this.dataLines;
    this.eventType = '';
    this.dataLines = [];
    if (lines.length === 0) {
      return null;
    }
    return { event: type, data: lines.join('\n'), id: this.lastId };
  }
}
