import { parseRuntimeConfig } from './runtime-config';

describe('parseRuntimeConfig', () => {
  it('reads a provider with defaults for what it leaves out', () => {
    const config = parseRuntimeConfig({ oidc: { issuer: 'https://id.example/', clientId: 'dash' } });
    expect(config).toEqual({
      tokenSignIn: false,
      oidc: {
        issuer: 'https://id.example/',
        clientId: 'dash',
        scope: 'openid',
        displayName: 'your identity provider',
        apiToken: 'access_token',
        claims: { tenant: 'tenant_id', roles: 'roles' },
        signOutUrl: null,
      },
    });
  });

  it('reads a Cognito deployment: ID token to the APIs, its claim names, the hosted UI sign-out URL', () => {
    const config = parseRuntimeConfig({
      oidc: {
        issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc',
        clientId: 'abc123',
        scope: 'openid email',
        displayName: 'Herald accounts',
        apiToken: 'id_token',
        claims: { tenant: 'custom:tenant_id', roles: 'cognito:groups' },
        signOutUrl: 'https://herald.auth.eu-west-1.amazoncognito.com/logout?client_id=abc123&logout_uri=x',
      },
      tokenSignIn: false,
    });
    expect(config.oidc?.apiToken).toBe('id_token');
    expect(config.oidc?.claims).toEqual({ tenant: 'custom:tenant_id', roles: 'cognito:groups' });
    expect(config.oidc?.signOutUrl).toMatch(/\/logout\?client_id=abc123/);
  });

  it.each([null, 'text', {}, { oidc: { issuer: 'https://id.example/' } }, { oidc: { clientId: 'x', issuer: ' ' } }])(
    'offers no provider sign-in for %j',
    (json) => {
      expect(parseRuntimeConfig(json).oidc).toBeNull();
    },
  );

  it('allows token sign-in only when the config says exactly true', () => {
    expect(parseRuntimeConfig({ tokenSignIn: true }).tokenSignIn).toBe(true);
    expect(parseRuntimeConfig({ tokenSignIn: 'true' }).tokenSignIn).toBe(false);
    expect(parseRuntimeConfig({}).tokenSignIn).toBe(false);
  });

  it('takes only the two API token kinds it knows', () => {
    const config = parseRuntimeConfig({ oidc: { issuer: 'https://i/', clientId: 'c', apiToken: 'refresh_token' } });
    expect(config.oidc?.apiToken).toBe('access_token');
  });
});
