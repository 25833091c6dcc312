#!/bin/sh
# Regenerates the test archive keys in this directory. Run once; the outputs
# are committed. Every key is a throw-away test key with no passphrase.
# gpg (GnuPG) 2.2.40, libgcrypt 1.10.1 produced the committed files.
set -eu
cd "$(dirname "$0")"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

gen() { # name fakedtime uid algo expire
	mkdir -p "$T/$1" && chmod 700 "$T/$1"
	gpg --homedir "$T/$1" --faked-system-time "$2!" --batch --passphrase '' \
		--quick-gen-key "$3" "$4" sign "$5"
	gpg --homedir "$T/$1" --faked-system-time "$2!" --batch --armor \
		--export-options export-minimal --export > "$1-pub.asc"
	gpg --homedir "$T/$1" --faked-system-time "$2!" --batch \
		--export-options export-minimal --export > "$1-pub.gpg"
	gpg --homedir "$T/$1" --faked-system-time "$2!" --batch --passphrase '' \
		--pinentry-mode loopback --armor --export-secret-keys > "$1-sec.asc"
}

# Sarge: DSA 1024, created 2004-06-01, expired 2006-06-01 (like sarge's
# archive key, long expired today).
gen sarge 20040601T000000 'Sarge Test Archive <sarge@test.invalid>' dsa1024 2y
# Modern: RSA 3072, no expiry.
gen modern 20200101T000000 'Modern Test Archive <modern@test.invalid>' rsa3072 never
# Other: a signer no recipe trusts.
gen other 20200101T000000 'Unknown Signer <other@test.invalid>' ed25519 never
