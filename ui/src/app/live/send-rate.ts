/**
 * Sends per minute, from the cumulative `sent` counter of successive stats events: each increase is counted in the
 * minute (wall clock) in which it was seen. The first sample is the baseline, so a campaign opened mid-send shows
 * what happened since the page was opened.
 */

export interface MinuteBucket {
  /** Start of the minute, in milliseconds since the epoch. */
  start: number;
  sends: number;
}

const MINUTE_MS = 60_000;

export class SendRateSeries {
  private last: number | null = null;
  private readonly perMinute = new Map<number, number>();

  constructor(private readonly keepMinutes = 60) {}

  /** Records the `sent` counter as seen at `atMs`. A counter that went down (a soft-bounce
   * retry re-queued a recipient) adds nothing and becomes the new baseline. */
  record(atMs: number, sent: number): void {
    if (this.last !== null && sent > this.last) {
      const minute = Math.floor(atMs / MINUTE_MS) * MINUTE_MS;
      this.perMinute.set(minute, (this.perMinute.get(minute) ?? 0) + (sent - this.last));
      this.prune(minute);
    }
    this.last = sent; // after a decrease, the re-send of the re-queued recipient counts again
  }

  /** The last `minutes` whole minutes up to the one holding `nowMs`, oldest first, empty minutes included. */
  buckets(nowMs: number, minutes: number): MinuteBucket[] {
    const current = Math.floor(nowMs / MINUTE_MS) * MINUTE_MS;
    const out: MinuteBucket[] = [];
    for (let i = minutes - 1; i >= 0; i--) {
      const start = current - i * MINUTE_MS;
      out.push({ start, sends: this.perMinute.get(start) ?? 0 });
    }
    return out;
  }

  private prune(newest: number): void {
    const oldest = newest - this.keepMinutes * MINUTE_MS;
    for (const minute of this.perMinute.keys()) {
      if (minute < oldest) {
        this.perMinute.delete(minute);
      }
    }
  }
}
