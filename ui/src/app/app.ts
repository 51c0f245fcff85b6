import { ChangeDetectionStrategy, Component, computed, inject } from '@angular/core';
import { Router, RouterLink, RouterLinkActive, RouterOutlet } from '@angular/router';

import { hasRole } from './core/jwt';
import { OidcSignIn } from './core/oidc';
import { Session } from './core/session';

@Component({
  selector: 'app-root',
  imports: [RouterOutlet, RouterLink, RouterLinkActive],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <a class="skip-link" href="#main">Skip to content</a>
    <header class="topbar">
      <a class="brand" routerLink="/dashboard">Herald</a>
      @if (session.claims(); as claims) {
        <nav aria-label="Main">
          <a routerLink="/dashboard" routerLinkActive="active" [routerLinkActiveOptions]="{ exact: true }">Campaigns</a>
          @if (canCreate()) {
            <a routerLink="/dashboard/new" routerLinkActive="active">New campaign</a>
          }
        </nav>
        <div class="who">
          <span data-testid="who">{{ claims.tenantId }} · {{ claims.roles.join(', ') || 'no role' }}</span>
          <button type="button" (click)="signOut()">Sign out</button>
        </div>
      }
    </header>
    <main id="main" tabindex="-1">
      <router-outlet />
    </main>
  `,
})
export class App {
  readonly session = inject(Session);
  // A viewer's dashboard is read-only: no way to a page whose every action the services would refuse.
  readonly canCreate = computed(() => hasRole(this.session.claims(), 'marketer'));
  private readonly router = inject(Router);
  private readonly oidc = inject(OidcSignIn);

  signOut(): void {
    if (this.session.source() === 'oidc') {
      void this.oidc.signOut(); // leaves for the provider's end-session page, which comes back to /sign-in
      return;
    }
    this.session.signOut();
    void this.router.navigateByUrl('/sign-in');
  }
}
