import { HttpClient, provideHttpClient, withInterceptors } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';
import { Router, provideRouter } from '@angular/router';
import { firstValueFrom } from 'rxjs';

import { authInterceptor } from './auth';
import { parseRuntimeConfig, RUNTIME_CONFIG } from './runtime-config';
import { Session } from './session';

function b64url(value: object): string {
  return btoa(JSON.stringify(value)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function token(claims: object): string {
  return `${b64url({ alg: 'RS256' })}.${b64url({ sub: 'u', exp: Date.now() / 1000 + 600, ...claims })}.sig`;
}

const ISSUER = 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc';
const STORED_USER = `oidc.user:${ISSUER}:dash`;

describe('authInterceptor with a provider session', () => {
  let http: HttpTestingController;
  let session: Session;
  let navigations: unknown[][];

  beforeEach(() => {
    sessionStorage.clear();
    TestBed.configureTestingModule({
      providers: [
        provideRouter([]),
        provideHttpClient(withInterceptors([authInterceptor])),
        provideHttpClientTesting(),
        {
          provide: RUNTIME_CONFIG,
          useValue: parseRuntimeConfig({
            oidc: { issuer: ISSUER, clientId: 'dash', claims: { tenant: 'custom:tenant_id', roles: 'cognito:groups' } },
          }),
        },
      ],
    });
    http = TestBed.inject(HttpTestingController);
    session = TestBed.inject(Session);
    navigations = [];
    const router = TestBed.inject(Router);
    router.navigate = async (commands: unknown[], extras?: unknown) => {
      navigations.push([commands, extras]);
      return true;
    };
  });

  afterEach(() => sessionStorage.clear());

  it('sends the provider token and reads its claims by the configured names', async () => {
    const claims = session.adopt(token({ 'custom:tenant_id': 'acme', 'cognito:groups': ['viewer'] }), {
      tenant: 'custom:tenant_id',
      roles: 'cognito:groups',
    });
    expect([claims.tenantId, claims.roles]).toEqual(['acme', ['viewer']]);
    const answer = firstValueFrom(TestBed.inject(HttpClient).get('/campaigns'));
    const request = http.expectOne('/campaigns');
    expect(request.request.headers.get('Authorization')).toBe(`Bearer ${session.token()}`);
    request.flush({ campaigns: [] });
    await answer;
  });

  it('ends the session on a 401: forgets the stored user and goes to sign-in saying it expired', async () => {
    session.adopt(token({ 'custom:tenant_id': 'acme', 'cognito:groups': ['marketer'] }), {
      tenant: 'custom:tenant_id',
      roles: 'cognito:groups',
    });
    sessionStorage.setItem(STORED_USER, JSON.stringify({ access_token: 'x', token_type: 'Bearer', profile: {} }));
    const answer = firstValueFrom(TestBed.inject(HttpClient).get('/campaigns')).catch((error: unknown) => error);
    http.expectOne('/campaigns').flush({ error: 'Unauthorized' }, { status: 401, statusText: 'Unauthorized' });
    await answer;
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(session.signedIn()).toBe(false);
    expect(sessionStorage.getItem(STORED_USER)).toBeNull();
    expect(navigations).toEqual([[['/sign-in'], { queryParams: { expired: 1 } }]]);
  });
});
