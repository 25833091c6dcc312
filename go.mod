module github.com/xenimg/xenimg

go 1.26.8

require (
	github.com/ProtonMail/go-crypto v1.5.2
	github.com/diskfs/go-diskfs v1.9.4
	github.com/klauspost/compress v1.20.4
	github.com/pelletier/go-toml/v2 v2.4.3
	github.com/therootcompany/xz v1.0.1
	github.com/ulikunitz/xz v0.5.17
	golang.org/x/crypto v0.59.0
	golang.org/x/sync v0.25.0
	golang.org/x/sys v0.50.0
	pault.ag/go/debian v0.21.0
)

require (
	github.com/cloudflare/circl v1.6.3 // indirect
	github.com/google/uuid v1.6.0 // indirect
	pault.ag/go/topsort v0.1.1 // indirect
)
