import { Routes } from '@angular/router';

import { signedInGuard } from './core/auth';
import { CampaignDetail } from './pages/campaign-detail';
import { CampaignList } from './pages/campaign-list';
import { CampaignNew } from './pages/campaign-new';
import { SignIn } from './pages/sign-in';
import { SignInCallback } from './pages/sign-in-callback';

// The dashboard's own paths live under /dashboard and /sign-in so that they never collide with the API paths the
// gateway routes to the services (/campaigns, /templates, /render, /suppressions, /u): a reload of any page works.
export const routes: Routes = [
  { path: '', pathMatch: 'full', redirectTo: 'dashboard' },
  { path: 'sign-in/callback', component: SignInCallback, title: 'Signing in · Herald' },
  { path: 'sign-in', component: SignIn, title: 'Sign in · Herald' },
  {
    path: 'dashboard',
    canActivate: [signedInGuard],
    children: [
      { path: '', component: CampaignList, title: 'Campaigns · Herald' },
      { path: 'new', component: CampaignNew, title: 'New campaign · Herald' },
      { path: 'campaigns/:id', component: CampaignDetail, title: 'Campaign · Herald' },
    ],
  },
  { path: '**', redirectTo: 'dashboard' },
];
