// Command peerdb-trivy writes a Trivy vulnerability database (trivy.db + metadata.json, schema
// version 2) from OSV records, so that Trivy can scan offline against the same advisories that
// `shipflow db import` loads.
//
//	peerdb-trivy -out CACHE/db PATH...
//
// PATH is an OSV record (.json, .yaml, .yml) or a directory of them. Trivy reads the result with
// `TRIVY_CACHE_DIR=CACHE trivy image --skip-db-update --skip-java-db-update --offline-scan ...`.
//
// Beside it, CACHE/java-db gets an empty Java DB (trivy-java-db's schema, no artifacts), as
// trivy's own tests make one: Trivy refuses to analyse a jar without a Java DB, and it cannot be
// downloaded here. With it, Trivy names jars from their pom.properties and manifests only.
//
// The records go through trivy-db's own import code wherever it has one, so that Trivy sees them
// as it would in its published database:
//
//   - GHSA-* records: trivy-db's GitHub advisory source (ghsa), as vuln-list-ghsa lays them out;
//   - GO-* records: trivy-db's Go vulnerability database source (govulndb);
//   - other language records (PYSEC-*, RUSTSEC-*, ...): trivy-db's generic OSV importer with an
//     "osv" data source (Trivy's published database has no PyPA source; this adds one);
//   - distribution records (ecosystem "Debian:12", "Alpine:v3.19", "Ubuntu:22.04"): written here
//     into the "<os> <release>" buckets the Debian/Alpine/Ubuntu sources fill, keyed like those
//     sources key them: by CVE id when the record has one (the record's own id becomes a vendor
//     id), with the fixed version, or the "affected" status when there is none.
//
// Then trivy-db's own build step (vulndb.Build) fills the "vulnerability" bucket and writes
// metadata.json.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.yaml.in/yaml/v4"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver trivy-java-db opens (as trivy links it)

	javadb "github.com/aquasecurity/trivy-java-db/pkg/db"

	"github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/ecosystem"
	"github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/aquasecurity/trivy-db/pkg/vulndb"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/ghsa"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/govulndb"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/osv"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/vulnerability"
)

// The largest record file read; OSV records are a few kilobytes.
const maxRecordBytes = 8 << 20

type osvEvent struct {
	Introduced   string `json:"introduced"`
	Fixed        string `json:"fixed"`
	LastAffected string `json:"last_affected"`
}

type osvRecord struct {
	ID        string   `json:"id"`
	Modified  string   `json:"modified"`
	Published string   `json:"published"`
	Withdrawn string   `json:"withdrawn"`
	Aliases   []string `json:"aliases"`
	Upstream  []string `json:"upstream"`
	Summary   string   `json:"summary"`
	Details   string   `json:"details"`
	Severity  []struct {
		Type  string `json:"type"`
		Score string `json:"score"`
	} `json:"severity"`
	Affected []struct {
		Package struct {
			Ecosystem string `json:"ecosystem"`
			Name      string `json:"name"`
		} `json:"package"`
		Ranges []struct {
			Type   string     `json:"type"`
			Events []osvEvent `json:"events"`
		} `json:"ranges"`
	} `json:"affected"`
	References []struct {
		URL string `json:"url"`
	} `json:"references"`
	DatabaseSpecific map[string]any `json:"database_specific"`
}

// record is one input file, as JSON bytes (YAML is converted) and decoded.
type record struct {
	path string
	raw  []byte
	osv  osvRecord
}

func readRecords(paths []string) ([]record, error) {
	var out []record
	for _, root := range paths {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			ext := strings.ToLower(filepath.Ext(path))
			if d.IsDir() || (ext != ".json" && ext != ".yaml" && ext != ".yml") {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if info.Size() > maxRecordBytes {
				return fmt.Errorf("%s: %d bytes is larger than an OSV record can be (%d)", path, info.Size(), maxRecordBytes)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if ext != ".json" {
				var doc any
				if err := yaml.Unmarshal(data, &doc); err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				if data, err = json.Marshal(doc); err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
			}
			var rec osvRecord
			if err := json.Unmarshal(data, &rec); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if rec.ID == "" {
				return fmt.Errorf("%s: not an OSV record (no id)", path)
			}
			out = append(out, record{path: path, raw: data, osv: rec})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].osv.ID < out[j].osv.ID })
	return out, nil
}

// osBucket maps an OSV distribution ecosystem to Trivy's bucket ("Debian:12" -> "debian 12",
// "Alpine:v3.19" -> "alpine 3.19", "Ubuntu:22.04:LTS" -> "ubuntu 22.04") and the source that
// fills it; ok is false for language ecosystems.
func osBucket(eco string) (bucket string, source types.DataSource, ok bool) {
	name, release, found := strings.Cut(eco, ":")
	if !found {
		return "", types.DataSource{}, false
	}
	release, _, _ = strings.Cut(release, ":")
	switch strings.ToLower(name) {
	case "debian":
		return "debian " + release, types.DataSource{
			ID: vulnerability.Debian, Name: "Debian Security Tracker", URL: "https://salsa.debian.org/security-tracker-team/security-tracker",
		}, true
	case "alpine":
		return "alpine " + strings.TrimPrefix(release, "v"), types.DataSource{
			ID: vulnerability.Alpine, Name: "Alpine Secdb", URL: "https://secdb.alpinelinux.org/",
		}, true
	case "ubuntu":
		return "ubuntu " + release, types.DataSource{
			ID: vulnerability.Ubuntu, Name: "Ubuntu CVE Tracker", URL: "https://git.launchpad.net/ubuntu-cve-tracker",
		}, true
	}
	return "", types.DataSource{}, false
}

// vulnIDs splits a record's ids as trivy-db keys them: its CVE ids when it has any (the other
// ids become vendor ids), else its own id.
func vulnIDs(rec osvRecord) (keys, vendor []string) {
	ids := append([]string{rec.ID}, rec.Aliases...)
	ids = append(ids, rec.Upstream...)
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if strings.HasPrefix(id, "CVE-") {
			keys = append(keys, id)
		} else {
			vendor = append(vendor, id)
		}
	}
	if len(keys) == 0 {
		return []string{rec.ID}, vendor[1:]
	}
	return keys, vendor
}

// osSource is a trivy-db VulnSrc for distribution records in OSV form.
type osSource struct {
	dir     string
	records []record
}

func (osSource) Name() types.SourceID { return "shipflow-osv-os" }

func (s osSource) Update(string) error {
	dbc := db.Config{}
	return dbc.BatchUpdate(func(tx *bolt.Tx) error {
		for _, rec := range s.records {
			if rec.osv.Withdrawn != "" {
				continue
			}
			keys, vendor := vulnIDs(rec.osv)
			for _, aff := range rec.osv.Affected {
				bucket, source, ok := osBucket(aff.Package.Ecosystem)
				if !ok {
					continue
				}
				if err := dbc.PutDataSource(tx, bucket, source); err != nil {
					return err
				}
				fixed, affected := "", false
				for _, rng := range aff.Ranges {
					if rng.Type != "ECOSYSTEM" {
						continue
					}
					for _, ev := range rng.Events {
						switch {
						case ev.Introduced != "":
							affected = true
						case ev.Fixed != "":
							fixed = ev.Fixed
						}
					}
				}
				if !affected {
					continue
				}
				advisory := types.Advisory{VendorIDs: vendor, FixedVersion: fixed}
				if fixed == "" {
					advisory.Status = types.StatusAffected
				}
				for _, key := range keys {
					if err := dbc.PutAdvisoryDetail(tx, key, aff.Package.Name, []string{bucket}, &advisory); err != nil {
						return err
					}
					detail := types.VulnerabilityDetail{Title: rec.osv.Summary, Description: rec.osv.Details}
					for _, ref := range rec.osv.References {
						detail.References = append(detail.References, ref.URL)
					}
					if err := dbc.PutVulnerabilityDetail(tx, key, source.ID, detail); err != nil {
						return err
					}
					if err := dbc.PutVulnerabilityID(tx, key); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

func isOS(rec osvRecord) bool {
	for _, aff := range rec.Affected {
		if _, _, ok := osBucket(aff.Package.Ecosystem); ok {
			return true
		}
	}
	return false
}

// otherOSVSources: every language ecosystem trivy-db's OSV importer resolves, under one "osv"
// data source.
func otherOSVSources() map[ecosystem.Type]types.DataSource {
	out := map[ecosystem.Type]types.DataSource{}
	for _, eco := range []ecosystem.Type{
		ecosystem.Npm, ecosystem.Pip, ecosystem.Go, ecosystem.RubyGems, ecosystem.Cargo,
		ecosystem.Composer, ecosystem.Maven, ecosystem.NuGet, ecosystem.Erlang, ecosystem.Pub,
		ecosystem.Swift, ecosystem.Julia, ecosystem.Bitnami, ecosystem.Kubernetes,
	} {
		out[eco] = types.DataSource{ID: vulnerability.OSV, Name: "OSV records", URL: "https://osv.dev"}
	}
	return out
}

func stage(root string, records []record) (map[types.SourceID]vulnsrc.VulnSrc, []string, error) {
	srcs := map[types.SourceID]vulnsrc.VulnSrc{}
	var osRecords []record
	dirs := map[string]string{
		"ghsa": filepath.Join(root, "ghsa", "advisories", "github-reviewed"),
		"go":   filepath.Join(root, "govulndb", "data", "osv"),
		"osv":  filepath.Join(root, "osv-other"),
	}
	used := map[string]bool{}
	for _, rec := range records {
		id := rec.osv.ID
		kind := "osv"
		switch {
		case isOS(rec.osv):
			osRecords = append(osRecords, rec)
			continue
		case strings.HasPrefix(id, "GHSA-"):
			kind = "ghsa"
		case strings.HasPrefix(id, "GO-"):
			kind = "go"
		}
		dir := dirs[kind]
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, id+".json"), rec.raw, 0o644); err != nil {
			return nil, nil, err
		}
		used[kind] = true
	}
	var targets []string
	if used["ghsa"] {
		// The GHSA source maps Swift advisories to CocoaPods names from a CocoaPods Specs
		// checkout it walks first; an empty one is enough.
		if err := os.MkdirAll(filepath.Join(root, "cocoapods-specs", "Specs"), 0o755); err != nil {
			return nil, nil, err
		}
		s := ghsa.NewVulnSrc()
		srcs[s.Name()] = s
		targets = append(targets, string(s.Name()))
	}
	if used["go"] {
		s := govulndb.NewVulnSrc()
		srcs[s.Name()] = s
		targets = append(targets, string(s.Name()))
	}
	if used["osv"] {
		s := osv.New("osv-other", vulnerability.OSV, otherOSVSources())
		srcs[s.Name()] = s
		targets = append(targets, string(s.Name()))
	}
	if len(osRecords) > 0 {
		s := osSource{records: osRecords}
		srcs[s.Name()] = s
		targets = append(targets, string(s.Name()))
	}
	return srcs, targets, nil
}

func run() error {
	out := flag.String("out", "", "the database directory to write (TRIVY_CACHE_DIR/db)")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		return fmt.Errorf("usage: peerdb-trivy -out CACHE/db PATH... (OSV records or directories of them)")
	}
	records, err := readRecords(flag.Args())
	if err != nil {
		return err
	}
	if len(records) == 0 {
		return fmt.Errorf("no OSV records under %s", strings.Join(flag.Args(), " "))
	}
	staging, err := os.MkdirTemp("", "peerdb-trivy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(staging)
	srcs, targets, err := stage(staging, records)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	// A fresh database each time: the same records give the same contents.
	_ = os.Remove(db.Path(*out))
	if err := db.Init(*out); err != nil {
		return fmt.Errorf("db init: %w", err)
	}
	defer db.Close()
	// NextUpdate far ahead: the database is only ever used with --skip-db-update.
	build := vulndb.New(staging, *out, 10*365*24*time.Hour, vulndb.WithVulnSrcs(srcs))
	if err := build.Build(targets); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	if err := emptyJavaDB(filepath.Join(filepath.Dir(filepath.Clean(*out)), "java-db")); err != nil {
		return fmt.Errorf("java db: %w", err)
	}
	fmt.Printf("peerdb-trivy: %d records (%s) -> %s\n", len(records), strings.Join(targets, ", "), db.Path(*out))
	return nil
}

// emptyJavaDB writes trivy-java-db's tables with no rows, and its metadata.
func emptyJavaDB(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	jdb, err := javadb.New(dir)
	if err != nil {
		return err
	}
	if err := jdb.Init(); err != nil {
		return err
	}
	if err := jdb.Close(); err != nil {
		return err
	}
	now := time.Now().UTC()
	client := javadb.NewMetadata(dir)
	return client.Update(javadb.Metadata{
		Version:    javadb.SchemaVersion,
		NextUpdate: now.Add(10 * 365 * 24 * time.Hour),
		UpdatedAt:  now,
	})
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "peerdb-trivy:", err)
		os.Exit(1)
	}
}
