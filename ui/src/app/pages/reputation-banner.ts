import { ChangeDetectionStrategy, Component, OnDestroy, computed, inject, signal } from '@angular/core';

import { HeraldApi } from '../core/api';
import { ReputationState } from '../core/models';

/** How often the banner asks again: the guard judges a scope at most every 10 s per analytics process. */
export const REPUTATION_POLL_MS = 60_000;

/** The words of the banner for a verdict, or null when there is nothing to say. */
export function reputationMessage(state: ReputationState | null): string | null {
  if (!state || state.level === 'ok') {
    return null;
  }
  const what = !state.scope || state.scope === 'tenant' ? 'Your sending' : `Sending from ${state.scope.replace(/^domain:/, '')}`;
  const why = state.reason ? `: ${state.reason}.` : '.';
  if (state.level === 'pause') {
    return `${what} is over the reputation limit and its campaigns were paused${why} Deal with the cause, then resume them.`;
  }
  return `${what} is at half the reputation limit${why} Campaigns pause automatically at the limit.`;
}

/**
 * The reputation guard's warning (a 1 h or 24 h window at half the bounce or complaint limit) or pause, over the
 * campaign pages; nothing while the tenant's reputation is fine, or when it cannot be read (the pages say why they
 * failed themselves).
 */
@Component({
  selector: 'app-reputation-banner',
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    @if (message(); as text) {
      <p class="reputation" [class.error]="state()?.level === 'pause'" [class.warning]="state()?.level === 'warn'"
         role="alert" data-testid="reputation-banner">{{ text }}</p>
    }
  `,
})
export class ReputationBanner implements OnDestroy {
  private readonly api = inject(HeraldApi);
  readonly state = signal<ReputationState | null>(null);
  readonly message = computed(() => reputationMessage(this.state()));
  private readonly timer: ReturnType<typeof setInterval>;

  constructor() {
    this.load();
    this.timer = setInterval(() => this.load(), REPUTATION_POLL_MS);
  }

  ngOnDestroy(): void {
    clearInterval(this.timer);
  }

  load(): void {
    this.api.reputation().subscribe({
      next: (state) => this.state.set(state),
      error: () => this.state.set(null),
    });
  }
}
