# For the person or job that runs `licet keys rotate` and `licet keys retire`: everything in
# licet-sign.hcl, plus adding a key version and raising the oldest version that verifies.
# It still cannot export or delete the key.

path "transit/sign/licet" {
  capabilities = ["update"]
}

path "transit/keys/licet" {
  capabilities = ["read"]
}

path "transit/keys/licet/rotate" {
  capabilities = ["update"]
}

path "transit/keys/licet/config" {
  capabilities = ["update"]
}
