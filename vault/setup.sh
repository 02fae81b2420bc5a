#!/usr/bin/env bash
# Prepares Vault or OpenBao for licet: enables the transit engine, creates the signing key,
# writes the two policies, creates a credential for the licet server, and prints the licet
# configuration to paste.
#
# Needs `vault` or `bao` on PATH (or VAULT_CLI=/path/to/cli) and an administrator's token in
# VAULT_ADDR / VAULT_TOKEN (BAO_ADDR / BAO_TOKEN work too). Running it twice changes nothing
# that already exists.
#
# Settings (environment): MOUNT (transit), KEY (licet), KEY_TYPE (rsa-2048; rsa-3072 and
# rsa-4096 work too), AUTH (token or approle), TOKEN_PERIOD (768h, the renewal period of the
# licet token).
set -euo pipefail
cd "$(dirname "$0")"

MOUNT=${MOUNT:-transit}
KEY=${KEY:-licet}
KEY_TYPE=${KEY_TYPE:-rsa-2048}
AUTH=${AUTH:-token}
TOKEN_PERIOD=${TOKEN_PERIOD:-768h}

CLI=${VAULT_CLI:-$(command -v vault || command -v bao || true)}
[ -n "$CLI" ] || { echo "error: neither vault nor bao is on PATH; set VAULT_CLI" >&2; exit 1; }
export VAULT_ADDR=${VAULT_ADDR:-${BAO_ADDR:-}} BAO_ADDR=${BAO_ADDR:-${VAULT_ADDR:-}}
export VAULT_TOKEN=${VAULT_TOKEN:-${BAO_TOKEN:-}} BAO_TOKEN=${BAO_TOKEN:-${VAULT_TOKEN:-}}
[ -n "$VAULT_ADDR" ] || { echo "error: set VAULT_ADDR (or BAO_ADDR)" >&2; exit 1; }
case "$KEY_TYPE" in rsa-2048|rsa-3072|rsa-4096) ;; *) echo "error: KEY_TYPE must be rsa-2048, rsa-3072 or rsa-4096" >&2; exit 1 ;; esac

policy() {
    sed -e "s#\"transit/#\"$MOUNT/#" -e "s#/licet\"#/$KEY\"#; s#/licet/#/$KEY/#" "$1"
}

if ! "$CLI" secrets list -format=json | grep -q "\"$MOUNT/\""; then
    "$CLI" secrets enable -path="$MOUNT" transit >/dev/null
    echo "enabled transit at $MOUNT/" >&2
fi
if ! "$CLI" read "$MOUNT/keys/$KEY" >/dev/null 2>&1; then
    "$CLI" write -f "$MOUNT/keys/$KEY" type="$KEY_TYPE" >/dev/null
    echo "created key $MOUNT/keys/$KEY ($KEY_TYPE)" >&2
fi
policy licet-sign.hcl | "$CLI" policy write licet-sign - >/dev/null
policy licet-operator.hcl | "$CLI" policy write licet-operator - >/dev/null
echo "wrote policies licet-sign and licet-operator" >&2

echo
echo "# Add to licet.yaml:"
cat <<YAML
signing:
  backend: vault-transit
  vault:
    address: "$VAULT_ADDR"
    mount: $MOUNT
    key: $KEY
YAML

if [ "$AUTH" = approle ]; then
    if ! "$CLI" auth list -format=json | grep -q '"approle/"'; then
        "$CLI" auth enable approle >/dev/null
    fi
    "$CLI" write auth/approle/role/licet token_policies=licet-sign token_ttl=1h token_max_ttl=24h >/dev/null
    role_id=$("$CLI" read -field=role_id auth/approle/role/licet/role-id)
    secret_id=$("$CLI" write -f -field=secret_id auth/approle/role/licet/secret-id)
    cat <<YAML
    auth: approle
# and give the licet process these two variables (keep the secret id out of files in git):
#   LICET_VAULT_ROLE_ID=$role_id
#   LICET_VAULT_SECRET_ID=$secret_id
YAML
else
    token=$("$CLI" token create -policy=licet-sign -period="$TOKEN_PERIOD" -orphan -field=token)
    cat <<YAML
    auth: token
# and give the licet process this variable (keep it out of files in git); the token must be
# renewed within $TOKEN_PERIOD (\`vault token renew\`), or use AUTH=approle:
#   VAULT_TOKEN=$token
YAML
fi
echo "# Operators who rotate keys need a token with the licet-operator policy:"
echo "#   $(basename "$CLI") token create -policy=licet-operator"
