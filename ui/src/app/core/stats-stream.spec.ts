import { TestBed } from '@angular/core/testing';

import { CampaignStats } from './models';
import { Session } from './session';
import { StatsStreams } from './stats-stream';

function body(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) {
        controller.enqueue(encoder.encode(chunk));
      }
      controller.close();
    },
  });
}

function stats(sent: number): string {
  return JSON.stringify({ campaignId: 'camp_x', status: 'sending', recipients: 10, queued: 10 - sent, sent } as Partial<CampaignStats>);
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  expect(check()).toBe(true);
}

describe('StatsStreams', () => {
  let calls: { url: string; init: RequestInit }[];

  function answer(...responses: Response[]): void {
    calls = [];
    vi.stubGlobal('fetch', (url: string, init: RequestInit) => {
      calls.push({ url, init });
      const next = responses.shift();
      return next ? Promise.resolve(next) : new Promise<Response>(() => {}); // later calls hang: "still connected"
    });
  }

  beforeEach(() => {
    sessionStorage.clear();
  });

  afterEach(() => {
    vi.unstubAllGlobals();
    vi.useRealTimers();
  });

  it('sends the token in the Authorization header and keeps the latest stats event', async () => {
    answer(new Response(body([`: ping\n\nevent: stats\ndata: ${stats(1)}\n`, `\nevent: stats\ndata: ${stats(4)}\n\n`]), { status: 200 }));
    const session = TestBed.inject(Session);
    vi.spyOn(session, 'token').mockReturnValue('tok.en.x');
    const stream = TestBed.inject(StatsStreams).open('camp_x');
    await until(() => stream.stats()?.sent === 4);
    expect(calls[0].url).toBe('/campaigns/camp_x/stream');
    expect((calls[0].init.headers as Record<string, string>)['Authorization']).toBe('Bearer tok.en.x');
    stream.close();
    expect(stream.state()).toBe('stopped');
  });

  it('reconnects after the server closes the stream, after the delay the server asked for', async () => {
    vi.useFakeTimers();
    answer(
      new Response(body([`retry: 2500\nevent: stats\ndata: ${stats(2)}\n\n`]), { status: 200 }),
      new Response(body([`event: stats\ndata: ${stats(9)}\n\n`]), { status: 200 }),
    );
    const stream = TestBed.inject(StatsStreams).open('camp_x');
    await vi.waitFor(() => expect(stream.state()).toBe('reconnecting'));
    expect(stream.stats()?.sent).toBe(2);
    expect(stream.problem()).toMatch(/reconnecting/);
    await vi.advanceTimersByTimeAsync(2400);
    expect(calls.length).toBe(1);
    await vi.advanceTimersByTimeAsync(200);
    await vi.waitFor(() => expect(stream.stats()?.sent).toBe(9));
    expect(calls.length).toBe(2);
    stream.close();
  });

  it('stops for good on a 404 and says why in words', async () => {
    const refusal = new Response(JSON.stringify({ error: 'CampaignNotFound', detail: "Campaign 'camp_x' does not exist." }), {
      status: 404,
      headers: { 'Content-Type': 'application/json' },
    });
    answer(refusal);
    const stream = TestBed.inject(StatsStreams).open('camp_x');
    await until(() => stream.state() === 'stopped');
    expect(stream.problem()).toBe("Live statistics are not available: Campaign 'camp_x' does not exist.");
    expect(calls.length).toBe(1);
  });

  it('retries a 503 rather than giving up', async () => {
    vi.useFakeTimers();
    answer(new Response('busy', { status: 503 }), new Response(body([`event: stats\ndata: ${stats(3)}\n\n`]), { status: 200 }));
    const stream = TestBed.inject(StatsStreams).open('camp_x');
    await vi.waitFor(() => expect(stream.state()).toBe('reconnecting'));
    expect(stream.problem()).toMatch(/HTTP 503/);
    await vi.advanceTimersByTimeAsync(1000);
    await vi.waitFor(() => expect(stream.stats()?.sent).toBe(3));
    stream.close();
  });

  it('reconnects at once with the current token when the server ends the stream at the token expiry', async () => {
    vi.useFakeTimers();
    answer(
      new Response(body([`event: stats\ndata: ${stats(2)}\n\nevent: expired\ndata: {"reason":"token_expired"}\n\n`]), {
        status: 200,
      }),
      new Response(body([`event: stats\ndata: ${stats(5)}\n\n`]), { status: 200 }),
    );
    const session = TestBed.inject(Session);
    // The user signed in again while the first stream ran: the reconnection reads the session's current token.
    vi.spyOn(session, 'token').mockReturnValueOnce('old.to.ken').mockReturnValue('new.to.ken');
    const stream = TestBed.inject(StatsStreams).open('camp_x');
    for (let i = 0; i < 50 && calls.length < 2; i++) {
      await vi.advanceTimersByTimeAsync(0); // the clock never moves: no backoff delay is waited
    }
    expect(calls.length).toBe(2);
    await vi.waitFor(() => expect(stream.stats()?.sent).toBe(5));
    expect((calls[0].init.headers as Record<string, string>)['Authorization']).toBe('Bearer old.to.ken');
    expect((calls[1].init.headers as Record<string, string>)['Authorization']).toBe('Bearer new.to.ken');
    stream.close();
  });

  it('stops, saying so, when the session token itself has expired', async () => {
    answer();
    const session = TestBed.inject(Session);
    vi.spyOn(session, 'claims').mockReturnValue({ expiresAt: Date.now() / 1000 - 10 } as ReturnType<Session['claims']>);
    const stream = TestBed.inject(StatsStreams).open('camp_x');
    await until(() => stream.state() === 'stopped');
    expect(stream.problem()).toMatch(/sign in again/);
    expect(calls.length).toBe(0);
  });
});
