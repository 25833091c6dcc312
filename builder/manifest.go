package builder

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/xenimg/xenimg/builder/debootstrap"
)

// Manifest records what a build used and made (manifest.json).
type Manifest struct {
	Name   string `json:"name"`
	Recipe struct {
		Path   string `json:"path"`
		SHA256 string `json:"sha256"`
	} `json:"recipe"`
	Suite struct {
		Codename    string   `json:"codename"`
		Arch        string   `json:"arch"`
		Mirror      string   `json:"mirror"`
		Components  []string `json:"components"`
		Variant     string   `json:"variant"`
		ReleaseDate string   `json:"release_date"`
	} `json:"suite"`
	Epoch     int64             `json:"epoch"`
	Configure string            `json:"configure"`
	Packages  []ManifestPackage `json:"packages"`
	Images    map[string]Image  `json:"images"`
	XenConfig string            `json:"xen_config"`
}

// ManifestPackage is one installed package.
type ManifestPackage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch"`
	SHA256  string `json:"sha256"`
}

// Image is one written image.
type Image struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	UUID   string `json:"uuid,omitempty"`
}

func newManifest(r *Recipe, plan *debootstrap.Plan, debs []string, epoch time.Time, configure, dir, rootUUID, swapUUID string) (*Manifest, error) {
	m := &Manifest{Name: r.Name, Epoch: epoch.Unix(), Configure: configure, XenConfig: r.Name + ".cfg", Images: map[string]Image{}}
	m.Recipe.Path = filepath.Base(r.Path)
	m.Recipe.SHA256 = r.Digest
	m.Suite.Codename, m.Suite.Arch, m.Suite.Mirror = r.Suite.Codename, r.Suite.Arch, r.Suite.Mirror
	m.Suite.Components, m.Suite.Variant = r.Suite.Components, r.Suite.Variant
	m.Suite.ReleaseDate = plan.Archive.Date().UTC().Format(time.RFC3339)
	for i, p := range plan.Set.Packages {
		sum := p.SHA256
		if sum == "" { // sarge-era indexes have MD5 only
			var err error
			if sum, _, err = FileSHA256(debs[i]); err != nil {
				return nil, err
			}
		}
		m.Packages = append(m.Packages, ManifestPackage{Name: p.Name, Version: p.Version.String(), Arch: p.Arch, SHA256: sum})
	}
	// The images are hashed side by side (the root image is most of it).
	imgs := []struct{ name, uuid string }{{"root.img", rootUUID}, {"swap.img", swapUUID}}
	found := make([]*Image, len(imgs))
	var g errgroup.Group
	for i, img := range imgs {
		g.Go(func() error {
			sum, n, err := FileSHA256(filepath.Join(dir, img.name))
			if os.IsNotExist(err) {
				return nil
			}
			if err != nil {
				return err
			}
			found[i] = &Image{Size: n, SHA256: sum, UUID: img.uuid}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i, img := range imgs {
		if found[i] != nil {
			m.Images[img.name] = *found[i]
		}
	}
	return m, nil
}

func (m *Manifest) write(path string) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
