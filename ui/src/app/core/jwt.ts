/** Reading a bearer token's claims in the browser (display only: the services verify the signature). */

export type Role = 'viewer' | 'marketer' | 'admin';

export interface TokenClaims {
  subject: string;
  tenantId: string;
  roles: Role[];
  /** Expiry, in seconds since the epoch. */
  expiresAt: number;
}

const ROLE_RANK: Record<Role, number> = { viewer: 0, marketer: 1, admin: 2 };

/** Where a token keeps the tenant and the roles: the services' HERALD_JWT_TENANT_CLAIM and HERALD_JWT_ROLES_CLAIM. */
export interface ClaimNames {
  tenant: string;
  roles: string;
}

export const DEFAULT_CLAIMS: ClaimNames = { tenant: 'tenant_id', roles: 'roles' };

/** A claim by its name, else by a dotted path into nested objects (`realm_access.roles`), as the services read it. */
export function claimValue(claims: Record<string, unknown>, name: string): unknown {
  if (name in claims) {
    return claims[name];
  }
  let value: unknown = claims;
  for (const part of name.split('.')) {
    if (typeof value !== 'object' || value === null || !(part in value)) {
      return undefined;
    }
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Why a pasted token cannot be used, in words; `null` when it looks usable. */
export class TokenError extends Error {}

function decodeSegment(segment: string): unknown {
  const base64 = segment.replace(/-/g, '+').replace(/_/g, '/');
  const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/**
 * The claims of a JWT (`sub`, `tenant_id`, `roles`, `exp`), or a `TokenError` saying what is wrong with it.
 * `nowSeconds` is the current time, so expiry can be checked (and tested) without a clock.
 */
export function parseToken(raw: string, nowSeconds: number, names: ClaimNames = DEFAULT_CLAIMS): TokenClaims {
  const token = raw.trim().replace(/^bearer\s+/i, '');
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => p.length === 0)) {
    throw new TokenError('This is not a token: a token has three parts separated by dots (run `make token`).');
  }
  let payload: unknown;
  try {
    payload = decodeSegment(parts[1]);
  } catch {
    throw new TokenError('The token cannot be read: its middle part is not base64url-encoded JSON.');
  }
  if (typeof payload !== 'object' || payload === null) {
    throw new TokenError('The token cannot be read: its claims are not a JSON object.');
  }
  const claims = payload as Record<string, unknown>;
  const tenantId = claimValue(claims, names.tenant);
  const subject = claims['sub'];
  const exp = claims['exp'];
  const rawRoles = claimValue(claims, names.roles);
  // A JSON list or a space-separated string, as the services accept.
  const roles = typeof rawRoles === 'string' ? rawRoles.split(/\s+/) : rawRoles;
  if (typeof tenantId !== 'string' || tenantId === '') {
    throw new TokenError(`The token names no tenant (claim ${names.tenant}).`);
  }
  if (typeof exp !== 'number') {
    throw new TokenError('The token has no expiry (claim exp).');
  }
  if (exp <= nowSeconds) {
    throw new TokenError(`The token expired at ${new Date(exp * 1000).toISOString()}; get a new one with \`make token\`.`);
  }
  const known = Array.isArray(roles) ? roles.filter((r): r is Role => typeof r === 'string' && r in ROLE_RANK) : [];
  return { subject: typeof subject === 'string' ? subject : '', tenantId, roles: known, expiresAt: exp };
}

/** Whether the claims hold `role` or a higher one (admin ⊃ marketer ⊃ viewer), as the services decide. */
export function hasRole(claims: TokenClaims | null, role: Role): boolean {
  return claims !== null && claims.roles.some((r) => ROLE_RANK[r] >= ROLE_RANK[role]);
}
