import { ChangeDetectionStrategy, Component, computed, input } from '@angular/core';

import { MinuteBucket } from './send-rate';

const WIDTH = 320;
const HEIGHT = 120;
const AXIS = 1; // the axis line's own room
const GAP = 2;

export interface Bar {
  x: number;
  y: number;
  width: number;
  height: number;
  label: string;
  sends: number;
}

function clock(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/** Lays out one bar per minute, scaled so the busiest minute fills the plot. */
export function layoutBars(buckets: MinuteBucket[]): { bars: Bar[]; max: number } {
  const max = Math.max(0, ...buckets.map((b) => b.sends));
  const plot = HEIGHT - AXIS;
  const slot = buckets.length > 0 ? WIDTH / buckets.length : WIDTH;
  const bars = buckets.map((bucket, i) => {
    const height = max > 0 ? Math.round((bucket.sends / max) * plot) : 0;
    return { x: i * slot + GAP / 2, y: plot - height, width: Math.max(slot - GAP, 1), height, label: clock(bucket.start), sends: bucket.sends };
  });
  return { bars, max };
}

/** A small bar chart of sends per minute, drawn as SVG, with a text summary for screen readers. */
@Component({
  selector: 'app-rate-chart',
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <figure class="chart">
      <svg [attr.viewBox]="'0 0 ' + width + ' ' + height" role="img" [attr.aria-label]="summary()" preserveAspectRatio="none">
        <line x1="0" [attr.y1]="height - axis" [attr.x2]="width" [attr.y2]="height - axis" class="axis" />
        @for (bar of layout().bars; track bar.label) {
          <rect [attr.x]="bar.x" [attr.y]="bar.y" [attr.width]="bar.width" [attr.height]="bar.height" class="bar">
            <title>{{ bar.label }}: {{ bar.sends }} sends</title>
          </rect>
        }
      </svg>
      <!-- Time labels in HTML, so they keep their shape however the plot stretches. -->
      <div class="ticks" aria-hidden="true">
        @for (bar of layout().bars; track bar.label; let i = $index) {
          @if (i % labelEvery() === 0) {
            <span [style.left.%]="(bar.x / width) * 100">{{ bar.label }}</span>
          }
        }
      </div>
      <figcaption>Sends per minute (busiest minute: {{ layout().max }})</figcaption>
    </figure>
  `,
})
export class RateChart {
  readonly buckets = input.required<MinuteBucket[]>();
  readonly width = WIDTH;
  readonly height = HEIGHT;
  readonly axis = AXIS;
  readonly layout = computed(() => layoutBars(this.buckets()));
  readonly labelEvery = computed(() => Math.max(1, Math.ceil(this.buckets().length / 5)));
  readonly summary = computed(() => {
    const bars = this.layout().bars;
    const active = bars.filter((b) => b.sends > 0);
    if (active.length === 0) {
      return `Sends per minute, last ${bars.length} minutes: none yet.`;
    }
    return `Sends per minute, last ${bars.length} minutes: ` + active.map((b) => `${b.label} ${b.sends}`).join(', ') + '.';
  });
}
