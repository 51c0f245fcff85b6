import { InjectionToken } from '@angular/core';

import { ClaimNames, DEFAULT_CLAIMS } from './jwt';

/**
 * What one deployment tells the dashboard at run time (`/config.json`, served by the container or, in development,
 * from public/config.json), so that the same build signs in against any OpenID Connect provider.
 */
export interface RuntimeConfig {
  oidc: OidcConfig | null;
  /** Pasting a token (from `make token`) as a way in: development only. */
  tokenSignIn: boolean;
}

export interface OidcConfig {
  issuer: string;
  clientId: string;
  scope: string;
  /** The provider's name on the sign-in button. */
  displayName: string;
  /**
   * Which token the APIs get. `access_token` by default; `id_token` where the provider puts the tenant attribute in
   * the ID token only (Cognito without a pre-token-generation trigger).
   */
  apiToken: 'access_token' | 'id_token';
  claims: ClaimNames;
  /** Where sign-out goes when the provider publishes no end-session endpoint (Cognito's hosted UI `/logout?…`). */
  signOutUrl: string | null;
}

export const RUNTIME_CONFIG = new InjectionToken<RuntimeConfig>('RuntimeConfig');

const NO_SIGN_IN: RuntimeConfig = { oidc: null, tokenSignIn: false };

function text(value: unknown, fallback = ''): string {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : fallback;
}

/** The config from its JSON; anything missing or malformed leaves that way of signing in off. */
export function parseRuntimeConfig(json: unknown): RuntimeConfig {
  if (typeof json !== 'object' || json === null) {
    return NO_SIGN_IN;
  }
  const raw = json as Record<string, unknown>;
  const tokenSignIn = raw['tokenSignIn'] === true;
  const oidc = (typeof raw['oidc'] === 'object' && raw['oidc'] !== null ? raw['oidc'] : {}) as Record<string, unknown>;
  const issuer = text(oidc['issuer']);
  const clientId = text(oidc['clientId']);
  if (!issuer || !clientId) {
    return { oidc: null, tokenSignIn };
  }
  const claims = (typeof oidc['claims'] === 'object' && oidc['claims'] !== null ? oidc['claims'] : {}) as Record<
    string,
    unknown
  >;
  return {
    tokenSignIn,
    oidc: {
      issuer,
      clientId,
      scope: text(oidc['scope'], 'openid'),
      displayName: text(oidc['displayName'], 'your identity provider'),
      apiToken: oidc['apiToken'] === 'id_token' ? 'id_token' : 'access_token',
      signOutUrl: text(oidc['signOutUrl']) || null,
      claims: { tenant: text(claims['tenant'], DEFAULT_CLAIMS.tenant), roles: text(claims['roles'], DEFAULT_CLAIMS.roles) },
    },
  };
}

/** Fetches `/config.json` once, before the app starts; without it, no way of signing in is offered. */
export async function loadRuntimeConfig(url = '/config.json'): Promise<RuntimeConfig> {
  try {
    const response = await fetch(url, { cache: 'no-store' });
    return response.ok ? parseRuntimeConfig(await response.json()) : NO_SIGN_IN;
  } catch {
    return NO_SIGN_IN;
  }
}
