import { Injectable, computed, signal } from '@angular/core';

import { ClaimNames, DEFAULT_CLAIMS, TokenClaims, parseToken } from './jwt';

const STORAGE_KEY = 'herald.token';

/** How the token came: through the identity provider (renewed and signed out there) or pasted (development). */
export type SessionSource = 'oidc' | 'pasted';

/**
 * The signed-in user's API token and its claims. A pasted token is kept for this tab (sessionStorage); a provider's
 * token is kept by oidc-client-ts (also sessionStorage) and handed over here on sign-in and on every renewal.
 */
@Injectable({ providedIn: 'root' })
export class Session {
  private readonly tokenSignal = signal<string | null>(null);
  private readonly claimsSignal = signal<TokenClaims | null>(null);
  private readonly sourceSignal = signal<SessionSource | null>(null);

  readonly token = this.tokenSignal.asReadonly();
  readonly claims = this.claimsSignal.asReadonly();
  readonly source = this.sourceSignal.asReadonly();
  readonly signedIn = computed(() => this.tokenSignal() !== null);

  constructor() {
    const stored = sessionStorage.getItem(STORAGE_KEY);
    if (stored) {
      try {
        this.signIn(stored);
      } catch {
        sessionStorage.removeItem(STORAGE_KEY);
      }
    }
  }

  /** Keeps a pasted token when it is readable and not expired; throws a `TokenError` (in words) otherwise. */
  signIn(raw: string): TokenClaims {
    const token = raw.trim().replace(/^bearer\s+/i, '');
    const claims = this.use(token, 'pasted', DEFAULT_CLAIMS);
    sessionStorage.setItem(STORAGE_KEY, token);
    return claims;
  }

  /** Uses a token the identity provider issued (its claim names come from the runtime config). */
  adopt(token: string, names: ClaimNames): TokenClaims {
    sessionStorage.removeItem(STORAGE_KEY);
    return this.use(token, 'oidc', names);
  }

  signOut(): void {
    this.tokenSignal.set(null);
    this.claimsSignal.set(null);
    this.sourceSignal.set(null);
    sessionStorage.removeItem(STORAGE_KEY);
  }

  private use(token: string, source: SessionSource, names: ClaimNames): TokenClaims {
    const claims = parseToken(token, Date.now() / 1000, names);
    this.tokenSignal.set(token);
    this.claimsSignal.set(claims);
    this.sourceSignal.set(source);
    return claims;
  }
}
