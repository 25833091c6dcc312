package publish

import (
	"encoding/json"
	"time"
)

// IndexFile is the index.json name.
const IndexFile = "index.json"

// Index lists published templates, in the spirit of virt-builder's index
// (one entry per template; a directory of published templates can merge
// them).
type Index struct {
	Version   int             `json:"version"` // 1
	Templates []IndexTemplate `json:"templates"`
}

// IndexTemplate describes one published template.
type IndexTemplate struct {
	Name      string `json:"name"`
	OSInfo    string `json:"osinfo"` // libosinfo short id, e.g. debian12
	Codename  string `json:"codename"`
	Arch      string `json:"arch"`
	Variant   string `json:"variant"`
	BuildDate string `json:"build_date"` // the manifest's epoch, RFC 3339 UTC
	Epoch     int64  `json:"epoch"`
	// Size is the root image size (bytes), the virtual size of the
	// compressed images; Used is the bytes in blocks the filesystem uses.
	Size int64 `json:"size"`
	Used int64 `json:"used"`
	// ImageSHA256 is the SHA256 of the published (decompressed) root
	// image; ImageMatchesManifest says whether it equals the manifest's
	// root.img SHA256 (false when root.img held stale data in unused
	// blocks, published as zeros).
	ImageSHA256          string      `json:"image_sha256"`
	ImageMatchesManifest bool        `json:"image_matches_manifest"`
	Partitions           string      `json:"partition_table"` // of the disk image: mbr or gpt
	Expand               string      `json:"expand"`          // the root partition of the disk image
	Files                []IndexItem `json:"files"`
	Notes                string      `json:"notes"`
}

// IndexItem is one artifact.
type IndexItem struct {
	Name   string `json:"name"`
	Format string `json:"format"` // raw+zstd, raw+xz, tar+gzip, cpio-newc+gzip, disk-raw, json
	Size   int64  `json:"size"`   // bytes on disk (apparent size)
	SHA256 string `json:"sha256"`
}

var osinfoByCodename = map[string]string{
	"sarge": "debian3.1", "etch": "debian4", "lenny": "debian5", "squeeze": "debian6",
	"wheezy": "debian7", "jessie": "debian8", "stretch": "debian9", "buster": "debian10",
	"bullseye": "debian11", "bookworm": "debian12", "trixie": "debian13", "forky": "debian14",
	"sid": "debiantesting",
}

func osinfo(codename string) string {
	if s, ok := osinfoByCodename[codename]; ok {
		return s
	}
	return "debian" + codename
}

func formatEpoch(epoch int64) string { return time.Unix(epoch, 0).UTC().Format(time.RFC3339) }

func (x *Index) marshal() ([]byte, error) {
	b, err := json.MarshalIndent(x, "", "  ")
	return append(b, '\n'), err
}
