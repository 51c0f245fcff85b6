import { Injectable, Signal, inject, signal } from '@angular/core';

import { CampaignStats } from './models';
import { Session } from './session';
import { SseParser } from './sse';

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'stopped';

export interface StatsStream {
  readonly stats: Signal<CampaignStats | null>;
  readonly state: Signal<StreamState>;
  /** Why the stream stopped or is reconnecting, in words (null while all is well). */
  readonly problem: Signal<string | null>;
  close(): void;
}

const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 15000;

/**
 * Opens `GET /campaigns/{id}/stream` with `fetch`, so the bearer token travels in the Authorization header (the
 * browser's EventSource cannot send headers, and a token in a URL ends up in access logs). Each `stats` event
 * replaces the statistics; a dropped connection is retried with a growing delay; 401/403/404 stop it for good.
 * The server ends a stream at its token's expiry with an `expired` event: the stream reconnects at once with the
 * session's current token (signing in again renews it), and stops, saying so, once the session's own token has
 * expired instead of knocking with it.
 */
@Injectable({ providedIn: 'root' })
export class StatsStreams {
  private readonly session = inject(Session);

  open(campaignId: string): StatsStream {
    return new FetchStatsStream(
      `/campaigns/${encodeURIComponent(campaignId)}/stream`,
      () => this.session.token(),
      () => this.session.claims()?.expiresAt ?? null,
    );
  }
}

class FetchStatsStream implements StatsStream {
  readonly stats = signal<CampaignStats | null>(null);
  readonly state = signal<StreamState>('connecting');
  readonly problem = signal<string | null>(null);
  private readonly abort = new AbortController();
  private backoff = MIN_BACKOFF_MS;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly url: string,
    private readonly token: () => string | null,
    private readonly tokenExpiresAt: () => number | null = () => null,
  ) {
    void this.connect();
  }

  close(): void {
    this.state.set('stopped');
    if (this.timer !== null) {
      clearTimeout(this.timer);
    }
    this.abort.abort();
  }

  private async connect(): Promise<void> {
    const parser = new SseParser();
    const expiresAt = this.tokenExpiresAt();
    if (expiresAt !== null && expiresAt <= Date.now() / 1000) {
      this.state.set('stopped');
      this.problem.set('Your sign-in has expired; sign in again to see live statistics.');
      return;
    }
    let tokenExpired = false;
    try {
      const response = await fetch(this.url, {
        headers: { Accept: 'text/event-stream', Authorization: `Bearer ${this.token() ?? ''}` },
        signal: this.abort.signal,
        cache: 'no-store',
      });
      if (!response.ok || response.body === null) {
        await this.refused(response);
        return;
      }
      this.state.set('live');
      this.problem.set(null);
      this.backoff = MIN_BACKOFF_MS;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          break;
        }
        for (const event of parser.push(value)) {
          if (event.event === 'stats') {
            this.stats.set(JSON.parse(event.data) as CampaignStats);
          } else if (event.event === 'expired') {
            tokenExpired = true;
          }
        }
      }
      if (tokenExpired) {
        // The server closed it because the token it was opened with expired: at once, with the current token.
        this.backoff = MIN_BACKOFF_MS;
        this.retry('Renewing the live connection…', 0);
        return;
      }
      this.retry('The live connection closed; reconnecting…', parser.retryMs);
    } catch (error) {
      if (this.abort.signal.aborted) {
        return; // closed on purpose
      }
      this.retry('The live connection was lost; reconnecting…', parser.retryMs);
    }
  }

  private async refused(response: Response): Promise<void> {
    let detail = `HTTP ${response.status}`;
    try {
      const body = (await response.json()) as { detail?: string };
      detail = body.detail ?? detail;
    } catch {
      // not JSON: keep the status
    }
    if ([401, 403, 404].includes(response.status)) {
      this.state.set('stopped');
      this.problem.set(`Live statistics are not available: ${detail}`);
      return;
    }
    this.retry(`Live statistics are not available right now (${detail}); retrying…`, null);
  }

  private retry(problem: string, serverDelay: number | null): void {
    if (this.abort.signal.aborted) {
      return;
    }
    this.state.set('reconnecting');
    this.problem.set(problem);
    const delay = serverDelay ?? this.backoff;
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    this.timer = setTimeout(() => void this.connect(), delay);
  }
}
