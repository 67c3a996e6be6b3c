"""Small, hand-made trivy and grype JSON reports in the shapes of trivy's pkg/types/report.go +
vulnerability.go and grype's grype/presenter/models/document.go + match.go."""

from __future__ import annotations

TRIVY = {
    "SchemaVersion": 2,
    "ArtifactName": "127.0.0.1:5000/app:1",
    "ArtifactType": "container_image",
    "Metadata": {"RepoDigests": ["127.0.0.1:5000/app@sha256:" + "d" * 64]},
    "Results": [
        {
            "Target": "app/package-lock.json",
            "Class": "lang-pkgs",
            "Type": "npm",
            "Vulnerabilities": [
                {
                    "VulnerabilityID": "CVE-2021-23337",
                    "VendorIDs": ["GHSA-35jh-r3h4-6jhm"],
                    "PkgName": "lodash",
                    "PkgIdentifier": {"PURL": "pkg:npm/lodash@4.17.15"},
                    "InstalledVersion": "4.17.15",
                    "FixedVersion": "4.17.21",
                    "Status": "fixed",
                    "Severity": "HIGH",
                    "Title": "lodash: command injection via template",
                    "PrimaryURL": "https://avd.aquasec.com/nvd/cve-2021-23337",
                    "CVSS": {
                        "nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", "V3Score": 7.2}
                    },
                },
                {
                    "VulnerabilityID": "CVE-2020-7598",
                    "PkgName": "minimist",
                    "PkgIdentifier": {"PURL": "pkg:npm/minimist@1.2.0"},
                    "InstalledVersion": "1.2.0",
                    "FixedVersion": "1.2.3, 0.2.1",
                    "Severity": "MEDIUM",
                },
            ],
        }
    ],
}

GRYPE = {
    "matches": [
        {
            "vulnerability": {
                "id": "GHSA-p6mc-m468-83gw",
                "namespace": "github:language:javascript",
                "severity": "High",
                "urls": ["https://github.com/advisories/GHSA-p6mc-m468-83gw"],
                "description": "Prototype Pollution in lodash",
                "cvss": [
                    {"vector": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:H", "metrics": {"baseScore": 7.4}}
                ],
                "fix": {"versions": ["4.17.20"], "state": "fixed"},
            },
            "relatedVulnerabilities": [{"id": "CVE-2020-8203"}],
            "artifact": {
                "name": "lodash",
                "version": "4.17.15",
                "type": "npm",
                "purl": "pkg:npm/lodash@4.17.15",
                "locations": [{"path": "/app/package-lock.json"}],
            },
        }
    ],
    "source": {"type": "image", "target": {"userInput": "app:1", "manifestDigest": "sha256:" + "e" * 64}},
    "descriptor": {"name": "grype", "version": "0.80.0"},
}
