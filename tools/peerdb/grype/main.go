// Command peerdb-grype writes a Grype vulnerability database (schema v6: vulnerability.db and
// import.json) from OSV records, so that Grype can scan offline against the same advisories that
// `shipflow db import` loads.
//
//	peerdb-grype -out DIR PATH...
//	GRYPE_DB_CACHE_DIR=CACHE grype db import DIR/vulnerability.db
//
// PATH is an OSV record (.json, .yaml, .yml) or a directory of them.
//
// The database is built by grype's own build code (grype/db.Build, the same transformers the
// published database goes through), from provider workspaces in the formats its processors read
// (the vunnel result formats). Grype's OSV transformer only takes the record families it has a
// strategy for (GO-, ALSA-, BIT-, ROOT-, CGA-), so:
//
//   - GO-* records go in unchanged, through the OSV processor (provider "osv");
//   - other language records (GHSA-*, PYSEC-*, RUSTSEC-*, ...) go through the GitHub advisory
//     format (provider "github"): one FixedIn per affected range, with the range as a constraint
//     (">= introduced, < fixed") and the fixed version as its identifier;
//   - distribution records (ecosystem "Debian:12", "Alpine:v3.19", "Ubuntu:22.04") go through the
//     OS format (providers "debian", "alpine", "ubuntu"), keyed like vunnel keys them: one entry
//     per CVE id of the record (the record's own id as its vendor advisory), or per record when
//     it names no CVE; "Version" is the fixed version, or "None" when there is none yet.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/OneOfOne/xxhash"
	"gopkg.in/yaml.v3"

	grypedb "github.com/anchore/grype/grype/db"
	"github.com/anchore/grype/grype/db/provider"
)

const maxRecordBytes = 8 << 20

const (
	schemaGitHub = "https://raw.githubusercontent.com/anchore/vunnel/main/schema/vulnerability/github-security-advisory/schema-1.0.1.json"
	schemaOS     = "https://raw.githubusercontent.com/anchore/vunnel/main/schema/vulnerability/os/schema-1.1.0.json"
	schemaOSV    = "https://raw.githubusercontent.com/anchore/vunnel/main/schema/vulnerability/osv/schema-1.6.1.json"
)

// Record families grype's OSV transformer has a strategy for.
var osvPrefixes = []string{"GO-", "ALSA-", "ALBA-", "ALEA-", "BIT-", "ROOT-", "CGA-"}

type osvEvent struct {
	Introduced   string `json:"introduced"`
	Fixed        string `json:"fixed"`
	LastAffected string `json:"last_affected"`
}

type osvAffected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
	} `json:"package"`
	Ranges []struct {
		Type   string     `json:"type"`
		Events []osvEvent `json:"events"`
	} `json:"ranges"`
	Versions []string `json:"versions"`
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
	Affected   []osvAffected `json:"affected"`
	References []struct {
		URL string `json:"url"`
	} `json:"references"`
	DatabaseSpecific map[string]any `json:"database_specific"`
}

type record struct {
	raw []byte
	osv osvRecord
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
			out = append(out, record{raw: data, osv: rec})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].osv.ID < out[j].osv.ID })
	return out, nil
}

// The rating words grype's CHML scheme takes, from a record's own rating or its CVSS score.
func severityWord(rec osvRecord) string {
	if s, ok := rec.DatabaseSpecific["severity"].(string); ok {
		switch strings.ToUpper(s) {
		case "LOW":
			return "Low"
		case "MODERATE", "MEDIUM":
			return "Medium"
		case "HIGH":
			return "High"
		case "CRITICAL":
			return "Critical"
		}
	}
	return ""
}

func cves(rec osvRecord) []string {
	var out []string
	seen := map[string]bool{}
	for _, id := range append(append([]string{rec.ID}, rec.Aliases...), rec.Upstream...) {
		if strings.HasPrefix(id, "CVE-") && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// github-format ecosystem names for OSV ecosystems.
var githubEcosystems = map[string]string{
	"npm":       "npm",
	"pypi":      "pip",
	"go":        "go",
	"crates.io": "rust",
	"rubygems":  "rubygems",
	"packagist": "composer",
	"maven":     "maven",
	"nuget":     "nuget",
	"hex":       "erlang",
	"pub":       "dart",
}

type githubFixedIn struct {
	Ecosystem  string `json:"ecosystem"`
	Identifier string `json:"identifier"`
	Name       string `json:"name"`
	Namespace  string `json:"namespace"`
	Range      string `json:"range"`
}

// constraints turns one affected entry's ranges (or bare versions) into (constraint, fixed) pairs.
func constraints(aff osvAffected) [][2]string {
	var out [][2]string
	for _, rng := range aff.Ranges {
		if rng.Type != "ECOSYSTEM" && rng.Type != "SEMVER" {
			continue
		}
		introduced, open := "", false
		flush := func(end string, fixed string) {
			var parts []string
			if introduced != "" && introduced != "0" {
				parts = append(parts, ">= "+introduced)
			}
			if end != "" {
				parts = append(parts, end)
			}
			if len(parts) == 0 {
				parts = []string{">= 0"}
			}
			out = append(out, [2]string{strings.Join(parts, ", "), fixed})
			open = false
		}
		for _, ev := range rng.Events {
			switch {
			case ev.Introduced != "":
				if open {
					flush("", "")
				}
				introduced, open = ev.Introduced, true
			case ev.Fixed != "":
				flush("< "+ev.Fixed, ev.Fixed)
			case ev.LastAffected != "":
				flush("<= "+ev.LastAffected, "")
			}
		}
		if open {
			flush("", "")
		}
	}
	if len(out) == 0 {
		for _, v := range aff.Versions {
			out = append(out, [2]string{"= " + v, ""})
		}
	}
	return out
}

func githubItem(rec osvRecord) (map[string]any, bool) {
	var fixedIns []githubFixedIn
	namespace := ""
	for _, aff := range rec.Affected {
		eco, ok := githubEcosystems[strings.ToLower(aff.Package.Ecosystem)]
		if !ok {
			continue
		}
		namespace = "github:" + eco
		for _, c := range constraints(aff) {
			fixedIns = append(fixedIns, githubFixedIn{
				Ecosystem: eco, Identifier: c[1], Name: aff.Package.Name, Namespace: namespace, Range: c[0],
			})
		}
	}
	if len(fixedIns) == 0 {
		return nil, false
	}
	var cvss []map[string]string
	for _, s := range rec.Severity {
		if s.Type == "CVSS_V3" || s.Type == "CVSS_V4" {
			version := "3.1"
			if strings.HasPrefix(s.Score, "CVSS:3.0") {
				version = "3.0"
			} else if s.Type == "CVSS_V4" {
				version = "4.0"
			}
			cvss = append(cvss, map[string]string{"vector": s.Score, "version": version})
		}
	}
	var refs []map[string]string
	for _, r := range rec.References {
		refs = append(refs, map[string]string{"url": r.URL})
	}
	summary := rec.Summary
	if summary == "" {
		summary, _, _ = strings.Cut(strings.TrimSpace(rec.Details), "\n")
	}
	advisory := map[string]any{
		"Classification":  "GENERAL",
		"CVE":             cves(rec),
		"Metadata":        map[string]any{"CVE": cves(rec)},
		"FixedIn":         fixedIns,
		"Severity":        severityWord(rec),
		"Summary":         summary,
		"ghsaId":          rec.ID,
		"namespace":       namespace,
		"url":             "https://osv.dev/vulnerability/" + rec.ID,
		"published":       rec.Published,
		"updated":         rec.Modified,
		"withdrawn":       nilIfEmpty(rec.Withdrawn),
		"cvss_severities": cvss,
		"references":      refs,
	}
	return map[string]any{"Advisory": advisory, "Vulnerability": map[string]any{}}, true
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// osNamespace: "Debian:12" -> ("debian", "debian:12", "dpkg"), "Alpine:v3.19" ->
// ("alpine", "alpine:3.19", "apk"); ok false for language ecosystems.
func osNamespace(eco string) (providerName, namespace, format string, ok bool) {
	name, release, found := strings.Cut(eco, ":")
	if !found {
		return "", "", "", false
	}
	release, _, _ = strings.Cut(release, ":")
	switch strings.ToLower(name) {
	case "debian":
		return "debian", "debian:" + release, "dpkg", true
	case "ubuntu":
		return "ubuntu", "ubuntu:" + release, "dpkg", true
	case "alpine":
		return "alpine", "alpine:" + strings.TrimPrefix(release, "v"), "apk", true
	}
	return "", "", "", false
}

type envelope struct {
	Identifier string `json:"identifier"`
	Item       any    `json:"item"`
	Schema     string `json:"schema"`
}

// osItems: one OS-format entry per (namespace, CVE) of the record.
func osItems(rec osvRecord) map[string][]envelope {
	out := map[string][]envelope{}
	keys := cves(rec)
	if len(keys) == 0 {
		keys = []string{rec.ID}
	}
	type fix struct {
		name, namespace, format, version, vulnerableRange string
	}
	byNamespace := map[string][]fix{}
	providers := map[string]string{}
	for _, aff := range rec.Affected {
		providerName, namespace, format, ok := osNamespace(aff.Package.Ecosystem)
		if !ok {
			continue
		}
		providers[namespace] = providerName
		for _, c := range constraints(aff) {
			f := fix{name: aff.Package.Name, namespace: namespace, format: format, version: c[1]}
			if f.version == "" {
				f.version = "None"
			}
			if !strings.HasPrefix(c[0], "< ") || strings.Contains(c[0], ",") {
				// Anything but "every version before the fix" is given as the vulnerable range.
				f.vulnerableRange = c[0]
			}
			byNamespace[namespace] = append(byNamespace[namespace], f)
		}
	}
	severity := severityWord(rec)
	if severity == "" {
		severity = "Unknown"
	}
	for namespace, fixes := range byNamespace {
		for _, key := range keys {
			var fixedIn []map[string]any
			for _, f := range fixes {
				entry := map[string]any{
					"Name":          f.name,
					"NamespaceName": f.namespace,
					"Version":       f.version,
					"VersionFormat": f.format,
					"VendorAdvisory": map[string]any{
						"NoAdvisory":      false,
						"AdvisorySummary": []map[string]string{{"ID": rec.ID, "Link": "https://osv.dev/vulnerability/" + rec.ID}},
					},
				}
				if f.vulnerableRange != "" {
					entry["VulnerableRange"] = f.vulnerableRange
				}
				fixedIn = append(fixedIn, entry)
			}
			var cveRefs []map[string]string
			if strings.HasPrefix(key, "CVE-") {
				cveRefs = []map[string]string{{"Name": key, "Link": "https://nvd.nist.gov/vuln/detail/" + key}}
			}
			item := map[string]any{
				"Vulnerability": map[string]any{
					"Name":          key,
					"NamespaceName": namespace,
					"Description":   rec.Summary,
					"Severity":      severity,
					"Link":          "https://osv.dev/vulnerability/" + rec.ID,
					"CVSS":          []any{},
					"FixedIn":       fixedIn,
					"Metadata":      map[string]any{"CVE": cveRefs},
				},
			}
			providerName := providers[namespace]
			out[providerName] = append(out[providerName], envelope{
				Identifier: namespace + "/" + strings.ToLower(key), Item: item, Schema: schemaOS,
			})
		}
	}
	return out
}

var unsafeName = regexp.MustCompile(`[^-._a-zA-Z0-9+]`)

// writeWorkspaces lays the envelopes out as vunnel provider workspaces (results/, a checksums
// listing, metadata.json) and returns grype's view of each.
func writeWorkspaces(root string, byProvider map[string][]envelope, built time.Time) (provider.States, error) {
	names := make([]string, 0, len(byProvider))
	for name := range byProvider {
		names = append(names, name)
	}
	sort.Strings(names)
	var states provider.States
	for _, name := range names {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Join(dir, "results"), 0o755); err != nil {
			return nil, err
		}
		var listing strings.Builder
		for i, env := range byProvider[name] {
			data, err := json.Marshal(env)
			if err != nil {
				return nil, err
			}
			rel := fmt.Sprintf("results/%04d-%s.json", i, unsafeName.ReplaceAllString(env.Identifier, "-"))
			if err := os.WriteFile(filepath.Join(dir, rel), data, 0o644); err != nil {
				return nil, err
			}
			fmt.Fprintf(&listing, "%016x  %s\n", xxhash.Checksum64(data), rel)
		}
		if err := os.WriteFile(filepath.Join(dir, "checksums"), []byte(listing.String()), 0o644); err != nil {
			return nil, err
		}
		version := 1
		if name == "github" || name == "nvd" {
			version = 2
		}
		metadata := map[string]any{
			"provider":             name,
			"urls":                 []string{"https://osv.dev"},
			"store":                "flat-file",
			"timestamp":            built.Format(time.RFC3339),
			"version":              version,
			"distribution_version": 1,
			"processor":            "shipflow-peerdb",
			"listing": map[string]string{
				"digest":    fmt.Sprintf("%016x", xxhash.Checksum64([]byte(listing.String()))),
				"path":      "checksums",
				"algorithm": "xxh64",
			},
			"schema": map[string]string{
				"version": "1.0.3",
				"url":     "https://raw.githubusercontent.com/anchore/vunnel/main/schema/provider-workspace-state/schema-1.0.3.json",
			},
			"stale": false,
		}
		data, err := json.MarshalIndent(metadata, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "metadata.json"), data, 0o644); err != nil {
			return nil, err
		}
		state, err := provider.ReadState(filepath.Join(dir, "metadata.json"))
		if err != nil {
			return nil, err
		}
		states = append(states, *state)
	}
	return states, nil
}

func hasOSVStrategy(id string) bool {
	for _, prefix := range osvPrefixes {
		if strings.HasPrefix(id, prefix) {
			return true
		}
	}
	return false
}

func run() error {
	out := flag.String("out", "", "the directory to write vulnerability.db and import.json into")
	builtFlag := flag.String("built", "", "the build time to record (RFC 3339; default now)")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		return fmt.Errorf("usage: peerdb-grype -out DIR [-built TIME] PATH... (OSV records or directories of them)")
	}
	built := time.Now().UTC().Truncate(time.Second)
	if *builtFlag != "" {
		t, err := time.Parse(time.RFC3339, *builtFlag)
		if err != nil {
			return fmt.Errorf("-built: %w", err)
		}
		built = t
	}
	records, err := readRecords(flag.Args())
	if err != nil {
		return err
	}
	byProvider := map[string][]envelope{}
	counts := map[string]int{}
	for _, rec := range records {
		if hasOSVStrategy(rec.osv.ID) {
			var item any
			if err := json.Unmarshal(rec.raw, &item); err != nil {
				return err
			}
			byProvider["osv"] = append(byProvider["osv"], envelope{Identifier: rec.osv.ID, Item: item, Schema: schemaOSV})
			counts["osv"]++
			continue
		}
		for name, envs := range osItems(rec.osv) {
			byProvider[name] = append(byProvider[name], envs...)
			counts[name]++
		}
		if item, ok := githubItem(rec.osv); ok {
			byProvider["github"] = append(byProvider["github"], envelope{Identifier: rec.osv.ID, Item: item, Schema: schemaGitHub})
			counts["github"]++
		}
	}
	if len(byProvider) == 0 {
		return fmt.Errorf("no OSV records with a package grype can match under %s", strings.Join(flag.Args(), " "))
	}
	staging, err := os.MkdirTemp("", "peerdb-grype-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(staging)
	states, err := writeWorkspaces(staging, byProvider, built)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(*out); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	err = grypedb.Build(grypedb.BuildConfig{
		SchemaVersion:       6,
		Directory:           *out,
		States:              states,
		Timestamp:           built,
		IncludeCPEParts:     []string{"a", "h", "o"},
		InferNVDFixVersions: true,
		Hydrate:             true,
		BatchSize:           500,
	})
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	fmt.Printf("peerdb-grype: %d records %v -> %s\n", len(records), counts, filepath.Join(*out, "vulnerability.db"))
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "peerdb-grype:", err)
		os.Exit(1)
	}
}
