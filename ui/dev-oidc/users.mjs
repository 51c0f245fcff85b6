// The development provider's seeded people (DEVELOPMENT ONLY: these passwords are public) and its login page.
// One person per role in the demo tenant `acme`, and a marketer of `globex` to see tenants kept apart.

function person(tenant, role, name) {
  return {
    sub: `${tenant}-${role}`,
    email: `${role}@${tenant}.example`,
    password: `${role}-${tenant}-dev-password`,
    name,
    tenant,
    role,
  };
}

export const SEEDED_USERS = [
  person('acme', 'admin', 'Ada Admin'),
  person('acme', 'marketer', 'Maria Marketer'),
  person('acme', 'viewer', 'Victor Viewer'),
  person('globex', 'marketer', 'Gloria Globex'),
];

export function findUser(email) {
  const wanted = (email ?? '').trim().toLowerCase();
  return SEEDED_USERS.find((u) => u.email === wanted);
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

/** The sign-in page: a form posting email and password to `action`, or only an error when there is no action. */
export function loginPage({ action, email = '', error, title = 'Sign in to Herald (development)' }) {
  const form = action
    ? `<form method="post" action="${escapeHtml(action)}" autocomplete="off">
    <label for="email">Email</label>
    <input id="email" name="email" type="email" required autofocus value="${escapeHtml(email)}">
    <label for="password">Password</label>
    <input id="password" name="password" type="password" required>
    <button type="submit">Sign in</button>
  </form>
  <p class="hint">Development provider: the seeded people and their passwords are printed by <code>make dev</code>.</p>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 24rem; margin: 4rem auto; padding: 0 1rem; color: #1b1f24; }
  label { display: block; margin-top: 1rem; font-weight: 600; }
  input { width: 100%; padding: .5rem; font-size: 1rem; box-sizing: border-box; }
  button { margin-top: 1.25rem; padding: .5rem 1.25rem; font-size: 1rem; }
  .error { color: #a4001d; font-weight: 600; }
  .hint { color: #555; font-size: .875rem; margin-top: 2rem; }
</style></head>
<body><h1>${escapeHtml(title)}</h1>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
${form}
</body></html>`;
}
