"""Installed Python distributions: ``*.dist-info/METADATA``, ``*.egg-info/PKG-INFO`` and the
single-file ``*.egg-info`` distutils wrote.

The files are in email-header form (core metadata spec). The licence comes from
``License-Expression`` (PEP 639), else a short ``License`` field, else the trove classifiers.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from shipflow.sbom.catalogers.base import Cataloged
from shipflow.sbom.catalogers.packages import pypi_package
from shipflow.sbom.model import Distro
from shipflow.sbom.source import FileSource

if TYPE_CHECKING:
    import email.message

log = logging.getLogger(__name__)

# Trove licence classifiers -> SPDX identifiers (the common ones; others are skipped).
CLASSIFIER_LICENSES = {
    "License :: OSI Approved :: MIT License": "MIT",
    "License :: OSI Approved :: MIT No Attribution License (MIT-0)": "MIT-0",
    "License :: OSI Approved :: BSD License": "BSD-3-Clause",
    "License :: OSI Approved :: Apache Software License": "Apache-2.0",
    "License :: OSI Approved :: ISC License (ISCL)": "ISC",
    "License :: OSI Approved :: Python Software Foundation License": "PSF-2.0",
    "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "License :: OSI Approved :: GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "License :: OSI Approved :: GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "License :: OSI Approved :: GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "License :: OSI Approved :: GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "License :: OSI Approved :: GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "License :: OSI Approved :: GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "License :: OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "License :: OSI Approved :: GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "License :: OSI Approved :: The Unlicense (Unlicense)": "Unlicense",
    "License :: OSI Approved :: zlib/libpng License": "Zlib",
    "License :: OSI Approved :: Academic Free License (AFL)": "AFL-3.0",
}

# A License field longer than this (or multi-line) is the licence's full text, not a name.
_MAX_LICENSE_NAME = 80


def metadata_licenses(message: email.message.Message) -> tuple[str, ...]:
    # Values with undecodable bytes come back as email.header.Header objects: str() them.
    expression = str(message.get("License-Expression") or "").strip()
    if expression:
        return (expression,)
    field = str(message.get("License") or "").strip()
    if field and "\n" not in field and len(field) <= _MAX_LICENSE_NAME and field.upper() != "UNKNOWN":
        return (field,)
    classifiers = (str(c).strip() for c in message.get_all("Classifier", []))
    found = [CLASSIFIER_LICENSES[c] for c in classifiers if c in CLASSIFIER_LICENSES]
    return tuple(dict.fromkeys(found))


def is_metadata_path(path: str) -> bool:
    return (
        path.endswith(".dist-info/METADATA")
        or path.endswith(".egg-info/PKG-INFO")
        or (path.endswith(".egg-info") and "/" in path)
    )


class PythonCataloger:
    name = "python"

    def wants(self, path: str) -> bool:
        return is_metadata_path(path)

    def catalog(self, source: FileSource, distro: Distro | None) -> Cataloged:
        result = Cataloged()
        parser = None
        for found in source.find(self.wants):
            if parser is None:
                # The email package costs 15-25 ms of start-up (python -X importtime): only
                # when there is a METADATA file to read. Its default policy is compat32 (so
                # email.policy, another 10 ms, is not imported).
                import email.parser

                parser = email.parser.BytesHeaderParser()
            message = parser.parsebytes(found.data)
            name, version = message.get("Name"), message.get("Version")
            if not name or not version or not str(name).strip() or not str(version).strip():
                result.skip(found.location, self.name, "no Name: and Version: fields")
                continue
            name, version = str(name).strip(), str(version).strip()
            result.packages.append(pypi_package(name, version, found.location, metadata_licenses(message)))
        return result
