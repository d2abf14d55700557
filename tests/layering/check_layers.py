#!/usr/bin/env python3
"""The build's layering rules, checked over the source tree (ctest layering/*).

The folders of each library are read from the top-level CMakeLists.txt
(ROTOR_COMMON_DIRS, ROTOR_DATAPLANE_DIRS, ROTOR_CONTROL_DIRS), so that the
build and this check cannot disagree. Checks, one per ctest:
  includes  every source folder belongs to one library; a common file includes
            only common headers; a data-plane file includes only common and
            data-plane headers, and none of SQLiteCpp, curl, httplib,
            prometheus or CLI11;
  cycles    no two folders include each other, directly or through others;
  links     the data plane's link libraries (a file CMake writes at configure
            time, tests/layering/CMakeLists.txt) name none of those libraries.
Prints each violation with the file and line and exits 1; exits 0 when clean.
"""
import argparse
import os
import re
import sys

SOURCE_ROOTS = ("server", "zones", "probes", "api")
ENTRY_POINTS = {"server/main.cc"}  # the binary: may include everything
# Libraries the data plane must neither include nor link.
CONTROL_ONLY_HEADERS = re.compile(r"^(SQLiteCpp/|sqlite3\.h|curl/|httplib\.h|prometheus/|CLI/)")
CONTROL_ONLY_LINKS = re.compile(r"sqlite|curl|httplib|prometheus|CLI11", re.IGNORECASE)
INCLUDE = re.compile(r'^\s*#\s*include\s+([<"])([^">]+)[">]')


def library_folders(root):
    text = open(os.path.join(root, "CMakeLists.txt"), encoding="utf-8").read()
    layers = {}
    for name in ("COMMON", "DATAPLANE", "CONTROL"):
        match = re.search(r"set\(ROTOR_%s_DIRS([^)]*)\)" % name, text)
        if not match:
            sys.exit("CMakeLists.txt: no ROTOR_%s_DIRS" % name)
        for folder in match.group(1).split():
            layers[folder] = name.lower()
    return layers


def sources(root):
    for top in SOURCE_ROOTS:
        for directory, _, files in os.walk(os.path.join(root, top)):
            for name in sorted(files):
                if name.endswith((".h", ".cc")):
                    yield os.path.relpath(os.path.join(directory, name), root)


def layer_of(path, layers):
    """The library of the folder holding `path` (longest folder prefix), or None."""
    folder = os.path.dirname(path)
    while folder:
        if folder in layers:
            return layers[folder], folder
        folder = os.path.dirname(folder)
    return None, None


def includes(root, path):
    with open(os.path.join(root, path), encoding="utf-8") as source:
        for number, line in enumerate(source, 1):
            match = INCLUDE.match(line)
            if match:
                yield number, match.group(1) == '"', match.group(2)


def check_includes(root, layers):
    errors = []
    allowed = {"common": {"common"}, "dataplane": {"common", "dataplane"}}
    for path in sources(root):
        if path in ENTRY_POINTS:
            continue
        layer, _ = layer_of(path, layers)
        if layer is None:
            errors.append("%s: its folder is in no library (add it to a ROTOR_*_DIRS list in "
                          "CMakeLists.txt)" % path)
            continue
        if layer == "control":
            continue
        for number, quoted, header in includes(root, path):
            where = "%s:%d" % (path, number)
            if not quoted:
                if CONTROL_ONLY_HEADERS.match(header):
                    errors.append("%s: a %s file includes <%s>, a control-plane library"
                                  % (where, layer, header))
                continue
            target, _ = layer_of(header, layers)
            if header.startswith("tests/") or target is None:
                errors.append("%s: includes \"%s\", which is in no library" % (where, header))
            elif target not in allowed[layer]:
                errors.append("%s: a %s file includes \"%s\" from the %s layer"
                              % (where, layer, header, target))
    return errors


def folder_graph(root, layers):
    edges = {}  # folder -> {included folder: first "file:line" that does it}
    for path in sources(root):
        if path in ENTRY_POINTS:
            continue
        _, folder = layer_of(path, layers)
        folder = folder or os.path.dirname(path)
        for number, quoted, header in includes(root, path):
            if not quoted:
                continue
            _, target = layer_of(header, layers)
            target = target or os.path.dirname(header)
            if target != folder:
                edges.setdefault(folder, {}).setdefault(target, "%s:%d" % (path, number))
    return edges


def check_cycles(root, layers):
    edges = folder_graph(root, layers)
    errors = []
    reported = set()
    # A cycle through each folder, found by walking back from what it includes.
    for start in sorted(edges):
        parent = {start: None}
        frontier = [start]
        found = None
        while frontier and found is None:
            following = []
            for folder in frontier:
                for target in sorted(edges.get(folder, {})):
                    if target == start:
                        found = folder
                        break
                    if target not in parent:
                        parent[target] = folder
                        following.append(target)
                if found is not None:
                    break
            frontier = following
        if found is None:
            continue
        cycle = [found]
        while parent[cycle[-1]] is not None:
            cycle.append(parent[cycle[-1]])
        cycle.reverse()  # start ... found
        key = frozenset(cycle)
        if key in reported:
            continue
        reported.add(key)
        steps = cycle + [start]
        chain = "; ".join("%s -> %s (%s)" % (a, b, edges[a][b]) for a, b in zip(steps, steps[1:]))
        errors.append("include cycle between folders: %s" % chain)
    return errors


def check_links(links_file):
    errors = []
    with open(links_file, encoding="utf-8") as links:
        for line in links:
            target, _, libraries = line.strip().partition(": ")
            for library in libraries.split(";"):
                if library and CONTROL_ONLY_LINKS.search(library):
                    errors.append("%s links %s, a control-plane library" % (target, library))
    return errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check", choices=("includes", "cycles", "links"))
    parser.add_argument("--root", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    parser.add_argument("--links-file", help="for links: the file CMake wrote")
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    layers = library_folders(root)
    if args.check == "includes":
        errors = check_includes(root, layers)
    elif args.check == "cycles":
        errors = check_cycles(root, layers)
    else:
        errors = check_links(args.links_file)
    for error in errors:
        print(error)
    print("layering %s: %s" % (args.check, "%d violation(s)" % len(errors) if errors else "ok"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
