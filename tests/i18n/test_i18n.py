#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The translations' checks (README "Translations"): every po/LANG.po of po/LINGUAS is
complete (msgfmt --check, nothing fuzzy or untranslated, the .pot's msgids exactly), every
source file with translatable strings is in po/POTFILES, po/portmap.pot is what xgettext
makes of the sources today, and the installed polkit policy carries every language. Each
test method is one meson test (suite "i18n")."""

import ast
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
PODIR = os.path.join(SRCDIR, "po")
POT = os.path.join(PODIR, "portmap.pot")
BUILDDIR = os.environ.get("PORTMAP_BUILDDIR", os.path.join(SRCDIR, "build"))
POLKIT_POLICY = os.environ.get("PORTMAP_POLKIT_POLICY",
                               os.path.join(BUILDDIR, "data", "org.portmap.policy"))
MSGFMT = os.environ.get("MSGFMT") or shutil.which("msgfmt")
XGETTEXT = os.environ.get("XGETTEXT") or shutil.which("xgettext")

# what po/meson.build's i18n.gettext(preset: 'glib') gives xgettext besides -k_: meson's
# PRESET_ARGS['glib'] (mesonbuild/modules/i18n.py); only the keywords change the msgids
XGETTEXT_ARGS = [
    "--from-code=UTF-8", "--add-comments",
    "--keyword=_", "--keyword=N_", "--keyword=C_:1c,2", "--keyword=NC_:1c,2",
    "--keyword=g_dcgettext:2", "--keyword=g_dngettext:2,3", "--keyword=g_dpgettext2:2c,3",
]

# a call that marks a string for translation (gettext's and GLib's): a file that has one
# belongs in po/POTFILES
MARK = re.compile(r"(?<![A-Za-z0-9_])(?:_|N_|C_|NC_|ngettext|g_dngettext|g_dpgettext2)\s*\(")
# the source trees of the programs, and the templates of translated data files (xgettext
# reads them as desktop files or with ITS rules), wherever they are
SOURCE_DIRS = ("client/", "common/", "daemon/")
TRANSLATABLE_DATA = (".desktop.in", ".policy.in", ".metainfo.xml.in")
COMMENTS = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def read_po(path):
    """{(msgctxt, msgid, msgid_plural): {"msgstr": [...], "fuzzy": bool}} of the live
    entries (obsolete #~ ones left out), the header included under msgid ""."""
    entries = {}
    entry, field = None, None

    def finish():
        if entry is not None and "msgid" in entry:
            key = (entry.get("msgctxt"), entry["msgid"], entry.get("msgid_plural"))
            entries[key] = {"msgstr": [entry[k] for k in sorted(entry) if k.startswith("msgstr")],
                            "fuzzy": entry["fuzzy"]}

    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                finish()
                entry, field = None, None
                continue
            if entry is None:
                entry = {"fuzzy": False}
            if line.startswith("#~"):
                entry["obsolete"] = True
                continue
            if line.startswith("#,"):
                entry["fuzzy"] = entry["fuzzy"] or "fuzzy" in line[2:].replace(",", " ").split()
                continue
            if line.startswith("#"):
                continue
            m = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+(".*")$', line)
            if m:
                field = m.group(1)
                entry[field] = ast.literal_eval(m.group(2))
            elif line.startswith('"') and field is not None:
                entry[field] += ast.literal_eval(line)
            else:
                raise AssertionError(f"{path}: cannot read the line {line!r}")
    finish()
    return entries


def msgids(entries):
    return {k for k in entries if k[1] != ""}


def linguas():
    langs = []
    with open(os.path.join(PODIR, "LINGUAS")) as f:
        for line in f:
            line = line.split("#", 1)[0]
            langs += line.split()
    return langs


def potfiles():
    with open(os.path.join(PODIR, "POTFILES")) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def source_files():
    """The project's files, relative to the source root: git's tracked and new (not ignored)
    files in a checkout, else every file outside the build directories."""
    if os.path.isdir(os.path.join(SRCDIR, ".git")) and shutil.which("git"):
        cp = subprocess.run(["git", "-C", SRCDIR, "ls-files", "--cached", "--others",
                             "--exclude-standard", "-z"], capture_output=True, check=True)
        return sorted({p for p in cp.stdout.decode().split("\0")
                       if p and os.path.isfile(os.path.join(SRCDIR, p))})
    found = []
    for root, dirs, files in os.walk(SRCDIR):
        dirs[:] = [d for d in dirs if not d.startswith((".", "build"))
                   and not os.path.exists(os.path.join(root, d, "meson-private"))]
        found += [os.path.relpath(os.path.join(root, name), SRCDIR) for name in files]
    return sorted(found)


def needs_translation(path):
    if path.endswith(TRANSLATABLE_DATA) and not path.startswith("tests/"):
        return True
    if not path.startswith(SOURCE_DIRS) or not path.endswith((".c", ".h")):
        return False
    # the unit tests' sources print nothing for users
    if os.path.basename(path).startswith("test-"):
        return False
    with open(os.path.join(SRCDIR, path), encoding="utf-8", errors="replace") as f:
        return MARK.search(COMMENTS.sub("", f.read())) is not None


class I18nTest(unittest.TestCase):
    def setUp(self):
        self.assertIsNotNone(MSGFMT, "msgfmt is not installed (Debian: gettext)")
        self.assertIsNotNone(XGETTEXT, "xgettext is not installed (Debian: gettext)")

    # ---- the translations ----

    def test_linguas_lists_every_po_file(self):
        langs = linguas()
        self.assertTrue(langs, "po/LINGUAS lists no language")
        self.assertEqual(langs, sorted(set(langs)), "po/LINGUAS: keep it sorted, no duplicates")
        files = sorted(name[:-3] for name in os.listdir(PODIR) if name.endswith(".po"))
        self.assertEqual(files, sorted(langs), "po/*.po and po/LINGUAS differ")

    def test_po_files_pass_msgfmt_check_and_are_complete(self):
        for lang in linguas():
            po = os.path.join(PODIR, lang + ".po")
            with self.subTest(lang=lang):
                cp = subprocess.run([MSGFMT, "--check", "--statistics", "-o", os.devnull, po],
                                    capture_output=True, text=True, timeout=60,
                                    env=dict(os.environ, LC_ALL="C", LANGUAGE=""))
                self.assertEqual(cp.returncode, 0, cp.stderr)
                stats = cp.stderr.strip().splitlines()[-1]
                self.assertRegex(stats, r"^\d+ translated messages?\.$",
                                 f"po/{lang}.po is not complete: {stats}")
                entries = read_po(po)
                fuzzy = [k[1] for k in msgids(entries) if entries[k]["fuzzy"]]
                empty = [k[1] for k in msgids(entries) if not all(entries[k]["msgstr"])]
                self.assertEqual(fuzzy, [], f"po/{lang}.po: fuzzy")
                self.assertEqual(empty, [], f"po/{lang}.po: untranslated")
                header = entries[(None, "", None)]["msgstr"][0]
                self.assertIn(f"Language: {lang}\n", header)
                self.assertIn("charset=UTF-8", header)
                self.assertIn("Plural-Forms: ", header)

    def test_po_files_match_the_pot(self):
        """msgfmt counts only what a .po has: a msgid of the .pot missing from it is an
        untranslated message too (ninja -C BUILDDIR portmap-update-po merges them in)."""
        pot = msgids(read_po(POT))
        for lang in linguas():
            with self.subTest(lang=lang):
                po = msgids(read_po(os.path.join(PODIR, lang + ".po")))
                self.assertEqual(sorted(m[1] for m in pot - po), [],
                                 f"po/{lang}.po lacks these msgids of po/portmap.pot: run "
                                 "ninja -C BUILDDIR portmap-update-po and translate them")
                self.assertEqual(sorted(m[1] for m in po - pot), [],
                                 f"po/{lang}.po has msgids no longer in po/portmap.pot: run "
                                 "ninja -C BUILDDIR portmap-update-po")

    # ---- po/POTFILES and po/portmap.pot ----

    def test_potfiles_lists_every_translatable_file(self):
        listed = set(potfiles())
        wanted = [p for p in source_files() if needs_translation(p)]
        self.assertTrue(wanted)
        self.assertEqual([p for p in wanted if p not in listed], [],
                         "these files mark strings for translation but are not in po/POTFILES")

    def test_potfiles_entries_exist_and_are_sorted(self):
        entries = potfiles()
        self.assertTrue(entries)
        self.assertEqual(entries, sorted(set(entries)), "po/POTFILES: keep it sorted, once each")
        for path in entries:
            with self.subTest(path=path):
                self.assertTrue(os.path.isfile(os.path.join(SRCDIR, path)),
                                f"po/POTFILES lists {path}, which does not exist")

    def test_pot_is_up_to_date(self):
        tmp = tempfile.mkdtemp(prefix="portmap-pot-")
        self.addCleanup(shutil.rmtree, tmp, True)
        fresh = os.path.join(tmp, "portmap.pot")
        cp = subprocess.run([XGETTEXT, "--package-name=portmap", "-f",
                             os.path.join(PODIR, "POTFILES"), "-D", SRCDIR, "-k_", "-o", fresh]
                            + XGETTEXT_ARGS, capture_output=True, text=True, timeout=120)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        now, committed = msgids(read_po(fresh)), msgids(read_po(POT))
        self.assertGreater(len(now), 0)
        self.assertEqual((sorted(m[1] for m in now - committed),
                          sorted(m[1] for m in committed - now)), ([], []),
                         "po/portmap.pot is out of date (new msgids, gone msgids): run "
                         "ninja -C BUILDDIR portmap-pot, then portmap-update-po")

    # ---- merged data files ----

    def test_policy_is_merged_with_every_language(self):
        root = ET.parse(POLKIT_POLICY).getroot()
        lang_attr = "{http://www.w3.org/XML/1998/namespace}lang"
        actions = root.findall("action")
        self.assertTrue(actions)
        for action in actions:
            for tag in ("description", "message"):
                texts = {e.get(lang_attr): (e.text or "").strip() for e in action.findall(tag)}
                with self.subTest(action=action.get("id"), tag=tag):
                    self.assertTrue(texts.get(None), "no English text")
                    for lang in linguas():
                        self.assertTrue(texts.get(lang), f"no {lang} text")
                        self.assertNotEqual(texts[lang], texts[None], f"{lang} is English")


if __name__ == "__main__":
    unittest.main()
