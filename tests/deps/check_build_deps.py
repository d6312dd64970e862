#!/usr/bin/env python3
"""Fails when a build read a system file that scripts/deps.txt does not bring in.

A fresh Debian 12 gets exactly the packages of scripts/deps.txt and everything
they pull in through Depends / Pre-Depends (deps.sh installs with
--no-install-recommends), plus the Essential / required base system. This
script lists the files a configured and built tree read from the system and
names every one that belongs to a package outside that set, or to no package
at all (a hand install under /usr/local, say). Run it after a build:

    python3 tests/deps/check_build_deps.py BUILD_DIR [BUILD_DIR...]
        [--deps scripts/deps.txt] [--without PKG]...

--without drops packages from the list, to show that the check fails when a
needed package is missing (the suite does this with ocl-icd-opencl-dev).

What counts as read:
  - every CMake file configure read (CMAKE_MAKEFILE_DEPENDS in CMakeFiles/Makefile.cmake);
  - every absolute file path in CMakeCache.txt (found libraries and programs);
  - every header in the compiler's dependency files (*.o.d);
  - every library on a link line (absolute paths, and -lNAME resolved in the
    link directories and the system's).
Exit: 0 complete, 1 a file from a package outside the set, 2 usage error.
"""
import argparse
import glob
import os
import re
import subprocess
import sys

SYSTEM_LIB_DIRS = ["/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib", "/lib"]

# Packages whose files configure looks at when they happen to be installed,
# although nothing needs them: a fresh machine configures and builds the
# same without them. They pass only while none of their files is compiled
# in or linked (evidence "compile" or "link" still fails the check).
OPTIONAL_PROBES = {
    "libegl-dev": "FindOpenGL (through Qt6Gui's config) records libEGL.so if present; nothing links it",
    "libglu1-mesa-dev": "FindOpenGL records libGLU.so if present; nothing links it",
    "libgmock-dev": "GTestConfig.cmake includes GMockTargets.cmake OPTIONAL; the tests do not use gmock",
}

# Packages whose programs CMake's clang toolchain detection prefers when they
# are installed (llvm-ar-14, ld.lld-14, llvm-nm-14, ...), falling back to
# binutils from build-essential otherwise. They pass only while every file
# read from them is a program in /usr/bin: no header or library of theirs.
TOOL_ALTERNATIVES = {
    "llvm-14": "CMake picks llvm-ar-14 and friends for the clang fuzz build when present, else binutils",
    "lld-14": "CMake records ld.lld-14 for the clang fuzz build when present, else the system linker",
}


def read_deps(path, without):
    pkgs = []
    with open(path) as f:
        for line in f:
            name = line.split("#", 1)[0].strip()
            if name and name not in without:
                pkgs.append(name)
    return pkgs


def installed_packages():
    """name -> (depends, pre_depends, provides, essential, priority) for installed packages."""
    fmt = "${Package}\t${db:Status-Abbrev}\t${Depends}\t${Pre-Depends}\t${Provides}\t${Essential}\t${Priority}\n"
    out = subprocess.run(["dpkg-query", "-W", "-f", fmt], capture_output=True, text=True, check=True).stdout
    pkgs = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) != 7 or not parts[1].startswith("ii"):
            continue
        pkgs[parts[0]] = parts[2:]
    return pkgs


def alternatives(field):
    """'a (>= 1) | b, c:any' -> [['a', 'b'], ['c']]"""
    groups = []
    for group in field.split(","):
        names = [re.sub(r"[\s(\[].*$", "", alt.strip()).split(":")[0] for alt in group.split("|")]
        names = [n for n in names if n]
        if names:
            groups.append(names)
    return groups


def closure(roots, pkgs):
    providers = {}
    for name, (_, _, provides, _, _) in pkgs.items():
        for group in alternatives(provides):
            for virt in group:
                providers.setdefault(virt, []).append(name)

    def resolve(names):
        # apt takes the first alternative it can; prefer the first one installed here
        for n in names:
            if n in pkgs:
                return [n]
            if n in providers:
                return providers[n][:1]
        return []

    seen, todo = set(), []
    for r in roots:
        todo += resolve([r])
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        dep, pre, _, _, _ = pkgs[p]
        for group in alternatives(dep) + alternatives(pre):
            todo += resolve(group)
    return seen


def file_owners():
    owners = {}
    for lst in glob.glob("/var/lib/dpkg/info/*.list"):
        pkg = os.path.basename(lst)[:-5].split(":")[0]
        with open(lst, errors="replace") as f:
            for line in f:
                owners.setdefault(line.rstrip("\n"), pkg)
    return owners


def owner_of(path, owners):
    """The package that ships `path`, trying the usr-merged and symlink-resolved spellings."""
    cands = [path, os.path.normpath(path), os.path.realpath(path)]
    for c in list(cands):
        if c.startswith("/usr/lib/") or c.startswith("/usr/bin/") or c.startswith("/usr/sbin/"):
            cands.append(c[4:])
        elif c.startswith(("/lib/", "/lib64/", "/bin/", "/sbin/")):
            cands.append("/usr" + c)
    for c in cands:
        if c in owners:
            return owners[c]
    return None


def cmake_files(build):
    mk = os.path.join(build, "CMakeFiles", "Makefile.cmake")
    if not os.path.exists(mk):
        return []
    text = open(mk).read()
    m = re.search(r"set\(CMAKE_MAKEFILE_DEPENDS(.*?)\)", text, re.S)
    return re.findall(r'"([^"]+)"', m.group(1)) if m else []


def cache_files(build):
    out = []
    cache = os.path.join(build, "CMakeCache.txt")
    for line in open(cache, errors="replace"):
        m = re.match(r"^[A-Za-z0-9_.+-]+:(FILEPATH|PATH|STRING|INTERNAL)=(/.*)$", line.strip())
        if not m:
            continue
        for part in m.group(2).split(";"):
            if part.startswith("/") and os.path.isfile(part):
                out.append(part)
    return out


def depfile_headers(build):
    out = []
    for d in glob.glob(os.path.join(build, "**", "*.o.d"), recursive=True):
        text = open(d, errors="replace").read().replace("\\\n", " ")
        for tok in text.split():
            if tok.startswith("/") and not tok.endswith(":"):
                out.append(tok)
    return out


def link_libraries(build):
    out = []
    for lt in glob.glob(os.path.join(build, "**", "link.txt"), recursive=True):
        words = open(lt).read().split()
        dirs = [w[2:] for w in words if w.startswith("-L")]
        dirs += [p for w in words if w.startswith("-Wl,-rpath,") for p in w[len("-Wl,-rpath,"):].split(":")]
        for w in words:
            if w.startswith("/") and os.path.isfile(w):
                out.append(w)
            elif w.startswith("-l") and len(w) > 2:
                for d in dirs + SYSTEM_LIB_DIRS:
                    hit = [os.path.join(d, "lib" + w[2:] + ext) for ext in (".so", ".a")]
                    hit = [h for h in hit if os.path.exists(h)]
                    if hit:
                        out.append(hit[0])
                        break
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("builds", nargs="+", help="configured (and built) CMake build folders")
    ap.add_argument("--deps", default=os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "deps.txt"))
    ap.add_argument("--without", action="append", default=[], help="drop this package from the list")
    ap.add_argument("--source", default=os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "..")))
    a = ap.parse_args()

    builds = [os.path.realpath(b) for b in a.builds if os.path.exists(os.path.join(b, "CMakeCache.txt"))]
    if not builds:
        print("check_build_deps: no configured build folder among " + " ".join(a.builds), file=sys.stderr)
        return 2
    pkgs = installed_packages()
    roots = read_deps(a.deps, set(a.without))
    missing = [r for r in roots if r not in pkgs]
    if missing:
        print("check_build_deps: not installed here, run scripts/deps.sh first: " + " ".join(missing), file=sys.stderr)
        return 2
    base = [n for n, (_, _, _, ess, prio) in pkgs.items() if ess == "yes" or prio == "required"]
    allowed = closure(roots + base, pkgs)
    owners = file_owners()

    files = {}  # path -> the kinds of evidence that the build read it
    for b in builds:
        for kind, fn in (("configure", cmake_files), ("cache", cache_files), ("compile", depfile_headers),
                         ("link", link_libraries)):
            for f in fn(b):
                files.setdefault(os.path.normpath(f), set()).add(kind)

    bad, probes = {}, {}
    checked = 0
    for f, kinds in sorted(files.items()):
        kind = "+".join(sorted(kinds))
        real = os.path.realpath(f)
        if real.startswith(a.source + os.sep) or any(real.startswith(x + os.sep) for x in builds):
            continue  # the project's own files and what the build made
        if f.startswith("/proc/") or f.startswith("/tmp/"):
            continue
        checked += 1
        pkg = owner_of(f, owners)
        if pkg is None:
            bad.setdefault("(no Debian package: installed by hand?)", []).append((f, kind))
        elif pkg in OPTIONAL_PROBES and kinds <= {"configure", "cache"}:
            probes.setdefault(pkg, []).append(f)
        elif pkg in TOOL_ALTERNATIVES and os.path.dirname(f) == "/usr/bin":
            probes.setdefault(pkg, []).append(f)
        elif pkg not in allowed:
            bad.setdefault(pkg, []).append((f, kind))
    print(f"check_build_deps: {checked} system files read by {len(builds)} build folder(s); "
          f"{len(roots)} listed packages + {len(base)} base packages -> {len(allowed)} allowed")
    for pkg, fs in sorted(probes.items()):
        why = OPTIONAL_PROBES.get(pkg) or TOOL_ALTERNATIVES[pkg]
        print(f"check_build_deps: optional, not needed: {pkg} ({why}): {', '.join(fs)}")
    if not bad:
        print("check_build_deps: every file comes from scripts/deps.txt or its Depends")
        return 0
    for pkg, fs in sorted(bad.items()):
        print(f"check_build_deps: package {pkg} is not pulled in by {os.path.relpath(a.deps)} "
              f"(Depends only), but the build read {len(fs)} of its files, e.g.:")
        for f, kind in fs[:5]:
            print(f"    {kind}: {f}")
    print(f"check_build_deps: FAILED: add {' '.join(p for p in sorted(bad) if not p.startswith('('))} to "
          f"{os.path.relpath(a.deps)}".rstrip())
    return 1


if __name__ == "__main__":
    sys.exit(main())
