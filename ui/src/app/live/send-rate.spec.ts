import { SendRateSeries } from './send-rate';

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 15, 10, 30, 0); // a minute boundary

describe('SendRateSeries', () => {
  it('uses the first sample as the baseline and counts increases in the minute they are seen', () => {
    const series = new SendRateSeries();
    series.record(T0 + 5_000, 100); // opened mid-send: the 100 before are not this page's to chart
    series.record(T0 + 20_000, 130);
    series.record(T0 + 50_000, 150);
    series.record(T0 + MIN + 10_000, 190);
    expect(series.buckets(T0 + MIN + 30_000, 3)).toEqual([
      { start: T0 - MIN, sends: 0 },
      { start: T0, sends: 50 },
      { start: T0 + MIN, sends: 40 },
    ]);
  });

  it('includes empty minutes so the chart has a steady time axis', () => {
    const series = new SendRateSeries();
    series.record(T0, 0);
    series.record(T0 + 1_000, 10);
    const buckets = series.buckets(T0 + 3 * MIN, 4);
    expect(buckets.map((b) => b.sends)).toEqual([10, 0, 0, 0]);
    expect(buckets.map((b) => b.start)).toEqual([T0, T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]);
  });

  it('counts nothing for a decrease, then counts the re-send from the lower baseline', () => {
    const series = new SendRateSeries();
    series.record(T0, 10);
    series.record(T0 + 1_000, 9); // a recipient re-queued
    series.record(T0 + 2_000, 10); // and sent again
    expect(series.buckets(T0, 1)).toEqual([{ start: T0, sends: 1 }]);
  });

  it('forgets minutes older than it keeps', () => {
    const series = new SendRateSeries(2);
    series.record(T0, 0);
    series.record(T0 + 1_000, 5);
    series.record(T0 + 5 * MIN, 8);
    expect(series.buckets(T0 + 5 * MIN, 6).map((b) => b.sends)).toEqual([0, 0, 0, 0, 0, 3]);
  });
});
