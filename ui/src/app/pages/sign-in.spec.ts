import { TestBed } from '@angular/core/testing';
import { provideRouter } from '@angular/router';

import { OidcSignIn } from '../core/oidc';
import { RUNTIME_CONFIG, RuntimeConfig, parseRuntimeConfig } from '../core/runtime-config';
import { SignIn } from './sign-in';

const PROVIDER = { issuer: 'https://id.example/', clientId: 'dash', displayName: 'Acme ID' };

function render(runtime: RuntimeConfig): HTMLElement {
  TestBed.configureTestingModule({
    imports: [SignIn],
    providers: [provideRouter([]), { provide: RUNTIME_CONFIG, useValue: runtime }],
  });
  const fixture = TestBed.createComponent(SignIn);
  fixture.detectChanges();
  return fixture.nativeElement as HTMLElement;
}

describe('SignIn', () => {
  afterEach(() => sessionStorage.clear());

  it('offers only the provider when token sign-in is off (a deployment)', () => {
    const page = render(parseRuntimeConfig({ oidc: PROVIDER, tokenSignIn: false }));
    expect(page.querySelector('[data-testid="sign-in-oidc"]')?.textContent).toContain('Sign in with Acme ID');
    expect(page.querySelector('textarea#token')).toBeNull();
  });

  it('offers the token form beside the provider in development', () => {
    const page = render(parseRuntimeConfig({ oidc: PROVIDER, tokenSignIn: true }));
    expect(page.querySelector('[data-testid="sign-in-oidc"]')).not.toBeNull();
    expect(page.querySelector('textarea#token')).not.toBeNull();
  });

  it('says so when no way of signing in is configured', () => {
    const page = render(parseRuntimeConfig({}));
    expect(page.querySelector('[role="alert"]')?.textContent).toContain('No way of signing in is configured');
  });

  it('leaves for the provider when its button is pressed', async () => {
    const page = render(parseRuntimeConfig({ oidc: PROVIDER }));
    const oidc = TestBed.inject(OidcSignIn);
    const calls: string[] = [];
    oidc.signIn = async (returnTo = '/dashboard') => {
      calls.push(returnTo);
    };
    (page.querySelector('[data-testid="sign-in-oidc"]') as HTMLButtonElement).click();
    await Promise.resolve();
    expect(calls).toEqual(['/dashboard']);
  });
});
