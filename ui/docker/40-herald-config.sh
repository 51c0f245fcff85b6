#!/bin/sh
# Writes the dashboard's runtime config (/config.json) from the container's environment when nginx starts, so one
# image serves any deployment (the nginx image runs /docker-entrypoint.d/*.sh before it starts):
#   HERALD_UI_OIDC_ISSUER, HERALD_UI_OIDC_CLIENT_ID   the provider and the dashboard's app client (both required)
#   HERALD_UI_OIDC_SCOPE       default "openid email profile"
#   HERALD_UI_OIDC_NAME        the provider's name on the sign-in button
#   HERALD_UI_API_TOKEN        access_token (default) or id_token (Cognito: the tenant attribute is in the ID token)
#   HERALD_UI_TENANT_CLAIM, HERALD_UI_ROLES_CLAIM   as the services' HERALD_JWT_TENANT_CLAIM / HERALD_JWT_ROLES_CLAIM
#   HERALD_UI_SIGN_OUT_URL     for providers without an end-session endpoint (Cognito's hosted UI /logout)
#   HERALD_UI_TOKEN_SIGN_IN    "true" offers token paste (development); ignored when HERALD_ENV=prod
set -eu
out="${HERALD_UI_CONFIG_PATH:-/tmp/herald-ui-config.json}" # nginx serves it as /config.json

json() { # a JSON string: backslashes and double quotes escaped (the values are URLs, ids and claim names)
  printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"
}

token_sign_in=false
if [ "${HERALD_UI_TOKEN_SIGN_IN:-false}" = "true" ] && [ "${HERALD_ENV:-dev}" != "prod" ]; then
  token_sign_in=true
fi

if [ -n "${HERALD_UI_OIDC_ISSUER:-}" ] && [ -n "${HERALD_UI_OIDC_CLIENT_ID:-}" ]; then
  cat > "$out" <<JSON
{
  "oidc": {
    "issuer": $(json "$HERALD_UI_OIDC_ISSUER"),
    "clientId": $(json "$HERALD_UI_OIDC_CLIENT_ID"),
    "scope": $(json "${HERALD_UI_OIDC_SCOPE:-openid email profile}"),
    "displayName": $(json "${HERALD_UI_OIDC_NAME:-your identity provider}"),
    "apiToken": $(json "${HERALD_UI_API_TOKEN:-access_token}"),
    "claims": { "tenant": $(json "${HERALD_UI_TENANT_CLAIM:-tenant_id}"), "roles": $(json "${HERALD_UI_ROLES_CLAIM:-roles}") },
    "signOutUrl": $(json "${HERALD_UI_SIGN_OUT_URL:-}")
  },
  "tokenSignIn": $token_sign_in
}
JSON
else
  # No provider: the build's development config must not stay in place (it names a provider on 127.0.0.1).
  printf '{"oidc": null, "tokenSignIn": %s}\n' "$token_sign_in" > "$out"
fi
echo "herald-ui: wrote $out"
