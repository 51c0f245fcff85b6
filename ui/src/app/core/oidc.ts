import { Injectable, inject } from '@angular/core';
import { Router } from '@angular/router';
import { User, UserManager, WebStorageStateStore } from 'oidc-client-ts';

import { TokenError } from './jwt';
import { OidcConfig, RUNTIME_CONFIG } from './runtime-config';
import { Session } from './session';

export const CALLBACK_PATH = '/sign-in/callback';
export const SIGN_IN_PATH = '/sign-in';

/** The UserManager of oidc-client-ts for a provider (authorization code + PKCE, renewed with refresh tokens). */
export function userManagerFor(config: OidcConfig, origin: string): UserManager {
  return new UserManager({
    authority: config.issuer,
    client_id: config.clientId,
    redirect_uri: `${origin}${CALLBACK_PATH}`,
    post_logout_redirect_uri: `${origin}${SIGN_IN_PATH}`,
    response_type: 'code',
    scope: config.scope,
    // Renewed with the refresh token shortly before the access token expires. No iframe (no silent_redirect_uri):
    // without a refresh token, or once the provider refuses it, the session ends and the user signs in again.
    automaticSilentRenew: true,
    accessTokenExpiringNotificationTimeInSeconds: 30,
    loadUserInfo: false,
    // This tab only, like a pasted token: closing the tab signs out of the dashboard (not of the provider).
    userStore: new WebStorageStateStore({ store: window.sessionStorage }),
  });
}

/**
 * Sign-in through the identity provider in the runtime config: starts the code flow, completes it on the callback
 * page, keeps the Session's token current as oidc-client-ts renews it, and ends the session when renewal fails.
 */
@Injectable({ providedIn: 'root' })
export class OidcSignIn {
  private readonly config = inject(RUNTIME_CONFIG).oidc;
  private readonly session = inject(Session);
  private readonly router = inject(Router);
  private readonly manager: UserManager | null = this.config ? userManagerFor(this.config, window.location.origin) : null;

  constructor() {
    this.manager?.events.addUserLoaded((user) => this.adopt(user)); // after sign-in and after every renewal
    this.manager?.events.addAccessTokenExpired(() => void this.renewOrExpire());
  }

  get enabled(): boolean {
    return this.manager !== null;
  }

  get providerName(): string {
    return this.config?.displayName ?? '';
  }

  /** At start-up: the stored user of an earlier page load, renewed first if its token has expired meanwhile. */
  async restore(): Promise<void> {
    if (!this.manager || this.session.source() === 'pasted') {
      return;
    }
    const user = await this.manager.getUser();
    if (user && !user.expired) {
      this.adopt(user);
    } else if (user) {
      await this.renewOrExpire();
    }
  }

  /** Leaves for the provider's sign-in page; `returnTo` is where the dashboard goes once signed in. */
  signIn(returnTo = '/dashboard'): Promise<void> {
    return this.required().signinRedirect({ state: { returnTo } });
  }

  /** On the callback page: exchanges the code (with the PKCE verifier) and says where to go next. */
  async completeSignIn(url = window.location.href): Promise<string> {
    const user = await this.required().signinRedirectCallback(url);
    this.adopt(user);
    const state = user.state as { returnTo?: unknown } | undefined;
    return typeof state?.returnTo === 'string' && state.returnTo.startsWith('/') ? state.returnTo : '/dashboard';
  }

  /** Signs out of the dashboard and of the provider (its end-session page, or the configured sign-out URL). */
  async signOut(): Promise<void> {
    const manager = this.required();
    const user = await manager.getUser();
    this.session.signOut();
    const signOutUrl = this.config?.signOutUrl;
    if (signOutUrl) {
      await manager.removeUser();
      window.location.assign(signOutUrl);
      return;
    }
    await manager.signoutRedirect({ id_token_hint: user?.id_token });
  }

  /** The session cannot go on (a refused token, a failed renewal): forget the user and ask for a new sign-in. */
  async expire(): Promise<void> {
    this.session.signOut();
    await this.manager?.removeUser();
    await this.router.navigate([SIGN_IN_PATH], { queryParams: { expired: 1 } });
  }

  private async renewOrExpire(): Promise<void> {
    try {
      const user = await this.required().signinSilent();
      if (user) {
        return; // adopted by the userLoaded event
      }
    } catch {
      // no refresh token, or the provider refused it: the session is over
    }
    await this.expire();
  }

  private adopt(user: User): void {
    const config = this.config as OidcConfig;
    const token = config.apiToken === 'id_token' ? user.id_token : user.access_token;
    try {
      if (!token) {
        throw new TokenError(`The provider gave no ${config.apiToken}.`);
      }
      this.session.adopt(token, config.claims);
    } catch (error) {
      console.warn('sign-in: the provider token cannot be used', error);
      void this.expire();
    }
  }

  private required(): UserManager {
    if (!this.manager) {
      throw new Error('No identity provider is configured (/config.json).');
    }
    return this.manager;
  }
}
