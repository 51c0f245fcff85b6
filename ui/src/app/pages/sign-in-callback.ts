import { ChangeDetectionStrategy, Component, OnInit, inject, signal } from '@angular/core';
import { Router, RouterLink } from '@angular/router';

import { OidcSignIn } from '../core/oidc';

/** Where the identity provider sends the browser back with the authorization code. */
@Component({
  selector: 'app-sign-in-callback',
  imports: [RouterLink],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <section class="card narrow" aria-live="polite">
      @if (error(); as message) {
        <h1>Sign-in did not complete</h1>
        <p class="error" role="alert" data-testid="callback-error">{{ message }}</p>
        <p><a routerLink="/sign-in">Back to sign-in</a></p>
      } @else {
        <p>Signing in …</p>
      }
    </section>
  `,
})
export class SignInCallback implements OnInit {
  private readonly oidc = inject(OidcSignIn);
  private readonly router = inject(Router);
  readonly error = signal<string | null>(null);

  async ngOnInit(): Promise<void> {
    try {
      const next = await this.oidc.completeSignIn();
      await this.router.navigateByUrl(next, { replaceUrl: true });
    } catch (error) {
      // e.g. the user refused consent, the code was used twice (a reload), or the provider is down
      this.error.set(error instanceof Error ? error.message : String(error));
    }
  }
}
