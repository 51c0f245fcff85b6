import { Injectable, computed, signal } from '@angular/core';

import { TokenClaims, parseToken } from './jwt';

const STORAGE_KEY = 'herald.token';

/** The signed-in user's token, kept for this browser tab only (sessionStorage), and its claims. */
@Injectable({ providedIn: 'root' })
export class Session {
  private readonly tokenSignal = signal<string | null>(null);
  private readonly claimsSignal = signal<TokenClaims | null>(null);

  readonly token = this.tokenSignal.asReadonly();
  readonly claims = this.claimsSignal.asReadonly();
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

  /** Keeps the token when it is readable and not expired; throws a `TokenError` (in words) otherwise. */
  signIn(raw: string): TokenClaims {
    const token = raw.trim().replace(/^bearer\s+/i, '');
    const claims = parseToken(token, Date.now() / 1000);
    this.tokenSignal.set(token);
    this.claimsSignal.set(claims);
    sessionStorage.setItem(STORAGE_KEY, token);
    return claims;
  }

  signOut(): void {
    this.tokenSignal.set(null);
    this.claimsSignal.set(null);
    sessionStorage.removeItem(STORAGE_KEY);
  }
}
