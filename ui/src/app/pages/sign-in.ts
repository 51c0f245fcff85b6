import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { FormsModule } from '@angular/forms';
import { ActivatedRoute, Router } from '@angular/router';

import { TokenError } from '../core/jwt';
import { OidcSignIn } from '../core/oidc';
import { RUNTIME_CONFIG } from '../core/runtime-config';
import { Session } from '../core/session';

/**
 * Sign-in through the deployment's identity provider (runtime config). Pasting a bearer token is offered only where
 * the config allows it: in development, for the token `make dev` printed or one from `make token`.
 */
@Component({
  selector: 'app-sign-in',
  imports: [FormsModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <section class="card narrow" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">Sign in</h1>
      @if (expired) {
        <p class="notice" role="status" data-testid="session-expired">Your session has expired. Sign in again.</p>
      }
      @if (oidc.enabled) {
        <p>
          <button type="button" class="primary" data-testid="sign-in-oidc" [disabled]="leaving()" (click)="signInWithProvider()">
            Sign in with {{ oidc.providerName }}
          </button>
        </p>
        @if (providerError()) {
          <p class="error" role="alert" data-testid="provider-error">{{ providerError() }}</p>
        }
      }
      @if (tokenSignIn) {
        <form (ngSubmit)="submit()" novalidate aria-labelledby="token-title">
          <h2 id="token-title">Development: sign in with a token</h2>
          <label for="token">Access token</label>
          <textarea
            id="token"
            name="token"
            rows="5"
            required
            spellcheck="false"
            autocomplete="off"
            aria-describedby="token-help"
            [attr.aria-invalid]="error() ? 'true' : null"
            [(ngModel)]="token"
          ></textarea>
          <p id="token-help" class="help">
            A JWT for your tenant. Paste the token <code>make dev</code> printed, or run
            <code>make token TENANT=acme ROLE=marketer</code>.
          </p>
          @if (error()) {
            <p class="error" role="alert" data-testid="sign-in-error">{{ error() }}</p>
          }
          <button type="submit" [class.primary]="!oidc.enabled">Sign in with the token</button>
        </form>
      }
      @if (!oidc.enabled && !tokenSignIn) {
        <p class="error" role="alert">
          No way of signing in is configured for this dashboard (its <code>/config.json</code> names no identity provider).
        </p>
      }
    </section>
  `,
})
export class SignIn {
  private readonly session = inject(Session);
  private readonly router = inject(Router);
  readonly oidc = inject(OidcSignIn);
  readonly tokenSignIn = inject(RUNTIME_CONFIG).tokenSignIn;
  readonly expired = inject(ActivatedRoute).snapshot.queryParamMap.has('expired');
  token = '';
  readonly error = signal<string | null>(null);
  readonly providerError = signal<string | null>(null);
  readonly leaving = signal(false);

  async signInWithProvider(): Promise<void> {
    this.leaving.set(true);
    this.providerError.set(null);
    try {
      await this.oidc.signIn();
    } catch (error) {
      this.leaving.set(false);
      const reason = error instanceof Error ? error.message : String(error);
      this.providerError.set(`The identity provider cannot be reached (${reason}). Try again in a moment.`);
    }
  }

  submit(): void {
    try {
      this.session.signIn(this.token);
      this.error.set(null);
      void this.router.navigateByUrl('/dashboard');
    } catch (error) {
      this.error.set(error instanceof TokenError ? error.message : 'The token cannot be used.');
    }
  }
}
