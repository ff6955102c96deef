"""Where the corpus comes from: Debian packages (chosen, downloaded, extracted, their licences) and the standard
library. Nothing here installs anything: `apt-get download` fetches a .deb into a cache folder and `dpkg-deb -x`
unpacks it into a folder of its own.

Choosing packages (`--write-package-list`, which wrote models/data/packages.txt): every python3-* binary package
of the apt index except -dbg, -doc and -dev ones, transitional/dummy packages and downloads over 20 MB, ranked by
how many packages of the index depend on it (Depends and Pre-Depends, a popularity measure that needs no
network), ties by name.
"""

import collections
import glob
import hashlib
import os
import re
import subprocess

MAX_DEB_BYTES = 20_000_000
STDLIB_PACKAGE = "libpython3.11-stdlib"  # the Debian package that ships /usr/lib/python3.11
DEP5_RE = re.compile(r"^Format:\s*\S*(copyright-format|dep5)", re.I | re.M)
# For copyright files that are not machine-readable: every one of these found, in order of first mention (the first
# is taken as the main licence), marked as a guess. HPND-style: the ISC/HPND "Permission to use, copy, modify, and
# distribute" family.
LICENCE_GUESSES = [
    ("PSF-2.0", r"PYTHON SOFTWARE FOUNDATION LICENSE|PSF LICENSE AGREEMENT|\bthe Python license\b"),
    ("Apache-2.0", r"Apache License,?\s+Version 2"),
    ("LGPL", r"GNU (Lesser|Library) General Public"),
    ("GPL", r"GNU General Public License"),
    ("MPL-2.0", r"Mozilla Public License,?\s+(v\.|version)\s*2"),
    ("Expat", r"Permission is hereby granted, free of charge"),
    ("BSD", r"Redistribution and use in source and binary forms|Redistributions of source code must retain"),
    ("HPND-style", r"Permission to use, copy, modify,? and(/or)? distribute this software"),
    ("ZPL", r"Zope Public License"),
    ("public-domain", r"public domain"),
]
CANONICAL_LICENCES = {
    "expat": "Expat", "mit": "MIT", "mit/x11": "MIT", "bsd-2-clause": "BSD-2-Clause", "bsd-2": "BSD-2-Clause",
    "bsd-3-clause": "BSD-3-Clause", "bsd-3": "BSD-3-Clause", "bsd-3-clauses": "BSD-3-Clause",
    "apache-2": "Apache-2.0", "apache-2.0": "Apache-2.0", "apache2": "Apache-2.0", "apache-2.0+": "Apache-2.0+",
    "psf-2.0": "PSF-2.0", "psf-2": "PSF-2.0", "psf": "PSF-2.0", "python": "PSF-2.0", "zpl-2.1": "ZPL-2.1",
    "mpl-2.0": "MPL-2.0", "mpl-2": "MPL-2.0", "mplv2.0": "MPL-2.0", "isc": "ISC", "public-domain": "public-domain",
}

# ------------------------------------------------------------------------------------------------ the apt index
def parse_stanzas(text):
    """The paragraphs of `apt-cache dumpavail` as dicts (continuation lines joined with \\n)."""
    out = []
    for para in text.split("\n\n"):
        fields, key = {}, None
        for line in para.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" in fields:
            out.append(fields)
    return out


def dependency_names(fields):
    names = set()
    for key in ("Depends", "Pre-Depends"):
        for alternative in re.split(r"[,|]", fields.get(key, "")):
            name = alternative.strip().split(" ")[0].split(":")[0]
            if name:
                names.add(name)
    return names


def choose_packages(stanzas, count):
    """The `count` python3-* packages most depended on (see the module doc), as (name, reverse-depends count)."""
    rdeps = collections.Counter()
    candidates = {}
    for fields in stanzas:
        rdeps.update(dependency_names(fields))
        name = fields["Package"]
        if not name.startswith("python3-") or re.search(r"-(dbg|doc|dev)$", name):
            continue
        if int(fields.get("Size", "0")) > MAX_DEB_BYTES or re.search(r"transitional|dummy", fields.get("Description", ""), re.I):
            continue
        candidates[name] = fields
    ranked = sorted(candidates, key=lambda n: (-rdeps[n], n))
    return [(name, rdeps[name]) for name in ranked[:count]]


def write_package_list(path, count):
    dump = subprocess.run(["apt-cache", "dumpavail"], check=True, capture_output=True, text=True).stdout
    chosen = choose_packages(parse_stanzas(dump), count)
    with open(path, "w") as f:
        f.write("# Debian packages of Python source for models/data/build_corpus.py, most depended-on first.\n")
        f.write(f"# Written by `build_corpus.py --write-package-list {count}` from Debian 12's apt index: python3-*\n")
        f.write("# binary packages, no -dbg/-doc/-dev, transitional or over-20-MB ones, ranked by reverse Depends.\n")
        f.write("# One name a line, then the number of packages that depend on it.\n")
        for name, n in chosen:
            f.write(f"{name} {n}\n")
    return [name for name, _ in chosen]


def read_package_list(path):
    names = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(line.split()[0])
    return names


# ------------------------------------------------------------------------------------------ download, extract
def cached_deb(cache, name):
    found = sorted(glob.glob(os.path.join(cache, f"{glob.escape(name)}_*.deb")))
    return found[-1] if found else None


def apt_download(names, cache, log):
    """Fetches the .debs not yet in the cache (batches, then one by one where a batch fails). {name: error}."""
    missing = [n for n in names if not cached_deb(cache, n)]
    failed = {}
    for start in range(0, len(missing), 40):
        batch = missing[start:start + 40]
        run = subprocess.run(["apt-get", "download", "-q", *batch], cwd=cache, capture_output=True, text=True)
        for name in batch if run.returncode != 0 else []:
            if cached_deb(cache, name):
                continue
            one = subprocess.run(["apt-get", "download", "-q", name], cwd=cache, capture_output=True, text=True)
            if one.returncode != 0:
                failed[name] = (one.stderr.strip().splitlines() or ["apt-get download failed"])[-1]
        log(f"download: {min(start + 40, len(missing))}/{len(missing)} new .debs")
    return failed


def deb_fields(deb):
    out = subprocess.run(["dpkg-deb", "-f", deb, "Package", "Version", "Source"], check=True, capture_output=True, text=True)
    return dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)


def extract_deb(deb, dest):
    """dpkg-deb -x into dest (once: a .done marker makes reruns skip it)."""
    marker = os.path.join(dest, ".done")
    if not os.path.exists(marker):
        os.makedirs(dest, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", deb, dest], check=True)
        open(marker, "w").close()
    return dest


def installed_version(package):
    run = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True)
    return run.stdout.strip() if run.returncode == 0 else None


# ------------------------------------------------------------------------------------------------- licences
def dep5_paragraphs(text):
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        fields, key = {}, None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                continue
            if ":" in line:
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
        paragraphs.append(fields)
    return paragraphs


def parse_copyright(text):
    """{machine_readable, licences (short names of the Files paragraphs, debian/* ones left out), primary (of
    `Files: *`), head (the first lines, when not machine-readable)}."""
    if DEP5_RE.search(text.split("\n\n", 1)[0]):
        licences, primary = [], None
        for p in dep5_paragraphs(text):
            if "files" not in p or "license" not in p:
                continue
            patterns = p["files"].split()
            if all(pat.startswith("debian/") for pat in patterns):
                continue
            short = p["license"].split("\n")[0].strip()
            if short and short not in licences:
                licences.append(short)
            if "*" in patterns and primary is None:
                primary = short
        return {"machine_readable": True, "licences": licences, "primary": primary or (licences[0] if licences else None)}
    found = sorted((m.start(), name) for name, pattern in LICENCE_GUESSES if (m := re.search(pattern, text, re.I)))
    guesses = [f"guess:{name}" for _, name in found]  # in order of first mention: the first is the main one
    head = [line.rstrip() for line in text.splitlines() if line.strip()][:12]
    return {"machine_readable": False, "licences": guesses, "primary": guesses[0] if guesses else None, "head": head}


def canonical_licence(name):
    """One spelling per licence for the histogram (Debian writes BSD-3-clause and BSD-3-Clause, Apache-2 and
    Apache-2.0); anything not in the table is kept as written."""
    if not name:
        return "unknown"
    prefix, bare = ("guess:", name[6:]) if name.startswith("guess:") else ("", name)
    return prefix + CANONICAL_LICENCES.get(bare.lower(), bare)


def copyright_file(root, package):
    """The package's copyright file under root (usr/share/doc/<package>/copyright), or None with the reason."""
    doc = os.path.join(root, "usr", "share", "doc", package)
    path = os.path.join(doc, "copyright")
    if os.path.isfile(path):
        return path, None
    if os.path.islink(doc):
        target = os.readlink(doc)
        host = os.path.join("/usr/share/doc", os.path.basename(target), "copyright")
        if os.path.isfile(host):  # the doc folder is shared with a package installed here
            return host, None
        return None, f"usr/share/doc/{package} is a link to {target}, not in this package"
    return None, "no usr/share/doc/<package>/copyright"


def licence_record(package, version, copyright_path, reason=None):
    record = {"package": package, "version": version}
    if copyright_path is None:
        record.update({"machine_readable": False, "licences": [], "primary": None, "copyright_sha256": None, "note": reason})
        return record
    with open(copyright_path, "rb") as f:
        raw = f.read()
    record.update(parse_copyright(raw.decode("utf-8", "replace")))
    record["copyright_sha256"] = hashlib.sha256(raw).hexdigest()
    return record
