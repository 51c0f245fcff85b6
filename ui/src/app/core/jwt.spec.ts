import { TokenError, hasRole, parseToken } from './jwt';

function b64url(value: object | string): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return btoa(String.fromCharCode(...new TextEncoder().encode(text))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function token(claims: object): string {
  return `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}.c2lnbmF0dXJl`;
}

const NOW = 1_800_000_000;

describe('parseToken', () => {
  it('reads tenant, subject, roles and expiry', () => {
    const claims = parseToken(token({ sub: 'ada', tenant_id: 'acme', roles: ['marketer'], exp: NOW + 60 }), NOW);
    expect(claims).toEqual({ subject: 'ada', tenantId: 'acme', roles: ['marketer'], expiresAt: NOW + 60 });
  });

  it('accepts a pasted "Bearer …" header value and surrounding whitespace', () => {
    const raw = `  Bearer ${token({ sub: 'a', tenant_id: 't', roles: [], exp: NOW + 1 })}\n`;
    expect(parseToken(raw, NOW).tenantId).toBe('t');
  });

  it('decodes non-ASCII claims (UTF-8 in base64url)', () => {
    expect(parseToken(token({ sub: 'Zoë', tenant_id: 'café', roles: [], exp: NOW + 1 }), NOW).tenantId).toBe('café');
  });

  it('drops roles it does not know', () => {
    const claims = parseToken(token({ sub: 'a', tenant_id: 't', roles: ['admin', 'root', 3], exp: NOW + 1 }), NOW);
    expect(claims.roles).toEqual(['admin']);
  });

  it.each([
    ['not a token', /three parts/],
    ['a.b', /three parts/],
    ['a.!!!.c', /base64url-encoded JSON/],
    [`x.${b64url('"text"')}.y`, /not a JSON object/],
    [token({ sub: 'a', roles: [], exp: NOW + 1 }), /no tenant/],
    [token({ sub: 'a', tenant_id: 't', roles: [] }), /no expiry/],
    [token({ sub: 'a', tenant_id: 't', roles: [], exp: NOW }), /expired/],
  ])('refuses %s with a reason in words', (raw, reason) => {
    expect(() => parseToken(raw, NOW)).toThrow(TokenError);
    expect(() => parseToken(raw, NOW)).toThrow(reason);
  });
});

describe('hasRole', () => {
  const claims = (roles: ('viewer' | 'marketer' | 'admin')[]) => ({ subject: 's', tenantId: 't', roles, expiresAt: NOW });

  it('ranks admin above marketer above viewer', () => {
    expect(hasRole(claims(['admin']), 'marketer')).toBe(true);
    expect(hasRole(claims(['marketer']), 'viewer')).toBe(true);
    expect(hasRole(claims(['viewer']), 'marketer')).toBe(false);
    expect(hasRole(claims([]), 'viewer')).toBe(false);
    expect(hasRole(null, 'viewer')).toBe(false);
  });
});

describe('parseToken with the claim names of a provider', () => {
  it('reads Cognito claims (names with colons)', () => {
    const raw = token({ sub: 'u', 'custom:tenant_id': 'acme', 'cognito:groups': ['viewer'], exp: NOW + 60 });
    const claims = parseToken(raw, NOW, { tenant: 'custom:tenant_id', roles: 'cognito:groups' });
    expect([claims.tenantId, claims.roles]).toEqual(['acme', ['viewer']]);
  });

  it('follows a dotted path into nested claims (Keycloak) and splits space-separated roles', () => {
    const raw = token({ sub: 'u', org: { id: 'globex' }, realm_access: { roles: 'offline_access marketer' }, exp: NOW + 60 });
    const claims = parseToken(raw, NOW, { tenant: 'org.id', roles: 'realm_access.roles' });
    expect([claims.tenantId, claims.roles]).toEqual(['globex', ['marketer']]);
  });

  it('prefers a claim whose whole name matches (Auth0 namespaced URLs contain dots)', () => {
    const raw = token({ sub: 'u', 'https://herald.example/tenant': 'acme', roles: ['admin'], exp: NOW + 60 });
    expect(parseToken(raw, NOW, { tenant: 'https://herald.example/tenant', roles: 'roles' }).tenantId).toBe('acme');
  });

  it('names the configured tenant claim when it is missing', () => {
    const raw = token({ sub: 'u', tenant_id: 'acme', roles: [], exp: NOW + 60 });
    expect(() => parseToken(raw, NOW, { tenant: 'custom:tenant_id', roles: 'roles' })).toThrow(/claim custom:tenant_id/);
  });
});
