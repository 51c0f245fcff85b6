import { TestBed } from '@angular/core/testing';

import { RateChart, layoutBars } from './rate-chart';

const T0 = new Date(2026, 0, 15, 10, 30).getTime(); // local time, as the labels are

describe('layoutBars', () => {
  it('scales bars so the busiest minute fills the plot and an empty minute has no height', () => {
    const { bars, max } = layoutBars([
      { start: T0, sends: 50 },
      { start: T0 + 60_000, sends: 100 },
      { start: T0 + 120_000, sends: 0 },
    ]);
    expect(max).toBe(100);
    expect(bars.map((b) => b.height)).toEqual([60, 119, 0]);
    expect(bars[1].y).toBe(0);
    expect(bars[0].y + bars[0].height).toBe(119); // every bar stands on the axis
    expect(bars.map((b) => b.label)).toEqual(['10:30', '10:31', '10:32']);
  });

  it('draws flat bars when nothing was sent', () => {
    const { bars, max } = layoutBars([{ start: T0, sends: 0 }]);
    expect(max).toBe(0);
    expect(bars[0].height).toBe(0);
  });
});

describe('RateChart', () => {
  it('renders one bar per minute and summarises the busy minutes for screen readers', async () => {
    const fixture = TestBed.createComponent(RateChart);
    fixture.componentRef.setInput('buckets', [
      { start: T0, sends: 0 },
      { start: T0 + 60_000, sends: 120 },
    ]);
    await fixture.whenStable();
    const element = fixture.nativeElement as HTMLElement;
    expect(element.querySelectorAll('rect.bar').length).toBe(2);
    expect(element.querySelector('svg')?.getAttribute('aria-label')).toBe('Sends per minute, last 2 minutes: 10:31 120.');
    expect(element.querySelector('figcaption')?.textContent).toContain('busiest minute: 120');
    expect([...element.querySelectorAll('.ticks span')].map((t) => t.textContent)).toEqual(['10:30', '10:31']);
  });
});
