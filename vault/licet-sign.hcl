# What a licet server needs, and nothing more: sign with its transit key and read the key's
# public parts (versions, public keys) to publish them as a JWKS. It cannot export, rotate,
# reconfigure or delete the key.
#
# setup.sh replaces `transit` and `licet` when another mount or key name is chosen.

path "transit/sign/licet" {
  capabilities = ["update"]
}

path "transit/keys/licet" {
  capabilities = ["read"]
}
