import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { FormsModule } from '@angular/forms';
import { ActivatedRoute, Router } from '@angular/router';

import { TokenError } from '../core/jwt';
import { Session } from '../core/session';

/** Sign-in with a bearer token (in development: paste the one `make dev` printed, or one from `make token`). */
@Component({
  selector: 'app-sign-in',
  imports: [FormsModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <section class="card narrow" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">Sign in</h1>
      @if (expired) {
        <p class="notice" role="status">Your token was refused or has expired. Sign in again.</p>
      }
      <form (ngSubmit)="submit()" novalidate>
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
          A JWT for your tenant. In development, paste the token <code>make dev</code> printed, or run
          <code>make token TENANT=acme ROLE=marketer</code>.
        </p>
        @if (error()) {
          <p class="error" role="alert" data-testid="sign-in-error">{{ error() }}</p>
        }
        <button type="submit" class="primary">Sign in</button>
      </form>
    </section>
  `,
})
export class SignIn {
  private readonly session = inject(Session);
  private readonly router = inject(Router);
  readonly expired = inject(ActivatedRoute).snapshot.queryParamMap.has('expired');
  token = '';
  readonly error = signal<string | null>(null);

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
