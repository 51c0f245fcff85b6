import { HttpErrorResponse, HttpInterceptorFn } from '@angular/common/http';
import { inject } from '@angular/core';
import { CanActivateFn, Router } from '@angular/router';
import { catchError, throwError } from 'rxjs';

import { OidcSignIn } from './oidc';
import { Session } from './session';

/** Adds the bearer token to every API call; a 401 ends the session and sends the user to the sign-in screen. */
export const authInterceptor: HttpInterceptorFn = (req, next) => {
  const session = inject(Session);
  const router = inject(Router);
  const oidc = inject(OidcSignIn);
  const token = session.token();
  const authorised = token ? req.clone({ setHeaders: { Authorization: `Bearer ${token}` } }) : req;
  return next(authorised).pipe(
    catchError((error: unknown) => {
      if (error instanceof HttpErrorResponse && error.status === 401) {
        if (session.source() === 'oidc') {
          void oidc.expire();
        } else {
          session.signOut();
          void router.navigate(['/sign-in'], { queryParams: { expired: 1 } });
        }
      }
      return throwError(() => error);
    }),
  );
};

/** Routes behind it need a token; without one the user goes to the sign-in screen. */
export const signedInGuard: CanActivateFn = () => {
  const session = inject(Session);
  return session.signedIn() ? true : inject(Router).createUrlTree(['/sign-in']);
};
