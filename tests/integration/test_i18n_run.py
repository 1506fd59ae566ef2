#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A translated run: with LANG=C.UTF-8 LANGUAGE=de and the build's catalogs
(PORTMAP_LOCALEDIR=BUILDDIR/po), portmapctl's help, tables, legends and errors and
portmapd's --help are German, while portmapd's log, its other messages and every --json
output stay as they are in English. On loopback: a private system bus, the scripted NAT-PMP
gateway on 127.0.0.1, the built portmapd and portmapctl; one meson test per method."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lab"))

import pmlab  # noqa: E402
from test_portmapd import BUILDDIR, PORTMAPCTL, PORTMAPD, Bus  # noqa: E402

LOCALEDIR = os.environ.get("PORTMAP_LOCALEDIR") or os.path.join(BUILDDIR, "po")
MAPPING_HEADER = ["NAME", "ANBIETER", "PROTO", "INTERN", "EXTERN", "ADRESSE", "ZUSTAND",
                  "ABLAUF", "GÜLTIGKEIT"]
# words of the German catalog an English line cannot contain (GLib quotes with “” in English)
GERMAN = re.compile(r"[äöüÄÖÜß„]|Portweiterleitung|Zustand|Fehler|konnte|Vorgabe|Anbieter")


def locale_env(language, **more):
    """The caller's environment with only LANG=C.UTF-8 and LANGUAGE=@language as its
    locale (meson's test setup sets LC_ALL, which would win over LANGUAGE)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LC_") and k not in ("LANG", "LANGUAGE")}
    env.update(LANG="C.UTF-8", LANGUAGE=language, PORTMAP_LOCALEDIR=LOCALEDIR, NO_COLOR="1",
               **more)
    return env


def options(text):
    return sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text)))


class TranslatedRunTest(unittest.TestCase):
    def setUp(self):
        self.assertTrue(os.path.isfile(os.path.join(LOCALEDIR, "de", "LC_MESSAGES",
                                                    "portmap.mo")),
                        f"no German catalog in {LOCALEDIR}: build the portmap-gmo target")
        self.workdir = tempfile.mkdtemp(prefix="portmap-i18n-")
        os.chmod(self.workdir, 0o755)
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.bus = Bus(self.workdir)
        self.addCleanup(self.bus.stop)
        self.de = locale_env("de", DBUS_SYSTEM_BUS_ADDRESS=self.bus.address)
        self.en = locale_env("", DBUS_SYSTEM_BUS_ADDRESS=self.bus.address)
        self.fake = pmlab.LoopbackFakeGateway(self.workdir)
        self.addCleanup(self.fake.stop)
        self.config = os.path.join(self.workdir, "portmapd.conf")
        with open(self.config, "w") as f:
            f.write(f"[Provider lab]\nType=natpmp\nGateway=127.0.0.1\nPort={self.fake.port}\n"
                    "[Mapping web]\nProvider=lab\nProtocols=tcp\nInternalPort=8080\n")
        self.log_path = os.path.join(self.workdir, "portmapd.log")
        self.log = open(self.log_path, "w")
        self.addCleanup(self.log.close)
        # the daemon itself runs in German: its log must not be
        self.daemon = subprocess.Popen([PORTMAPD, "--log-level", "debug", "--config",
                                        self.config, "--state-dir",
                                        os.path.join(self.workdir, "state")],
                                       env=self.de, stdout=self.log, stderr=subprocess.STDOUT)
        self.addCleanup(pmlab.stop_popen, self.daemon)
        self.wait_for_web_active()

    def wait_for_web_active(self):
        end = time.monotonic() + 15
        while time.monotonic() < end:
            self.assertIsNone(self.daemon.poll(), self.read_log())
            cp = self.ctl("--json=short", "list", env=self.en)
            if cp.returncode == 0 and any(m.get("Name") == "web" and m.get("State") == "active"
                                          for m in json.loads(cp.stdout)):
                return
            time.sleep(0.05)
        self.fail("the mapping web did not become active:\n" + self.read_log())

    def read_log(self):
        self.log.flush()
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def ctl(self, *args, env):
        return subprocess.run([PORTMAPCTL, *args], env=env, capture_output=True, text=True,
                              timeout=60)

    def run_portmapd(self, *args, env):
        return subprocess.run([PORTMAPD, *args], env=env, capture_output=True, text=True,
                              timeout=60)

    # ---- German where it is for the user ----

    def test_portmapctl_help_is_german(self):
        de = self.ctl("--help", env=self.de)
        en = self.ctl("--help", env=self.en)
        self.assertEqual((de.returncode, en.returncode), (0, 0), de.stderr + en.stderr)
        self.assertIn("Portweiterleitungen von portmapd abfragen und ändern.", de.stdout)
        self.assertIn("\nBefehle:\n", de.stdout)
        self.assertNotIn("Commands:", de.stdout)
        self.assertIn("\nCommands:\n", en.stdout)
        # the options and commands are the same words in both
        self.assertEqual(options(de.stdout), options(en.stdout))
        verbs = re.compile(r"^  ([a-z]+)\b", re.M)
        self.assertEqual(verbs.findall(de.stdout), verbs.findall(en.stdout))

    def test_portmapd_help_is_german(self):
        de = self.run_portmapd("--help", env=self.de)
        en = self.run_portmapd("--help", env=self.en)
        self.assertEqual((de.returncode, en.returncode), (0, 0), de.stderr + en.stderr)
        self.assertIn("Hält eingehende Ports hinter NAT- und VPN-Gateways erreichbar",
                      de.stdout)
        self.assertIn("Konfigurationsdatei (Vorgabe /etc/portmap/portmapd.conf", de.stdout)
        self.assertIn("--config=DATEI", de.stdout)
        self.assertNotIn("Configuration file", de.stdout)
        self.assertIn("Configuration file (default /etc/portmap/portmapd.conf", en.stdout)
        self.assertEqual(options(de.stdout), options(en.stdout))

    def test_portmapctl_table_legend_and_errors_are_german(self):
        de = self.ctl("list", env=self.de)
        self.assertEqual(de.returncode, 0, de.stderr)
        header, row = de.stdout.splitlines()[:2]
        self.assertEqual(header.split(), MAPPING_HEADER)
        self.assertTrue(row.startswith("web "), row)
        # the values stay as portmapd says them; the columns line up in characters (Ü)
        self.assertEqual(row.index(" active ") + 1, header.index("ZUSTAND"), de.stdout)
        self.assertEqual(row.index(" persistent") + 1, header.index("GÜLTIGKEIT"), de.stdout)
        self.assertRegex(row, r" in \d+ (s|min|h) ")
        self.assertEqual(de.stdout.splitlines()[-1], "1 Portweiterleitung aufgelistet.")
        en = self.ctl("list", env=self.en)
        self.assertEqual(en.stdout.splitlines()[-1], "1 mapping listed.")

        status = self.ctl("status", env=self.de)
        self.assertEqual(status.returncode, 0, status.stderr)
        fields = dict(re.match(r"^ *([^:]+): (.*)$", line).groups()
                      for line in status.stdout.split("\n\n")[0].splitlines()
                      if re.match(r"^ *[^: ][^:]*: ", line))
        self.assertEqual(fields.get("Zustand"), "ok", status.stdout)
        self.assertEqual(fields.get("Anbieter"), "lab (natpmp): ready, externe Adresse 11.0.0.2",
                         status.stdout)
        self.assertEqual(fields.get("Portweiterleitungen"), "1 (1 aktiv)", status.stdout)
        self.assertEqual(status.stdout.split("\n\n")[1].split("\n")[0].split(), MAPPING_HEADER)

        err = self.ctl("port", "nosuch", env=self.de)
        self.assertNotEqual(err.returncode, 0)
        self.assertEqual(err.stderr, "Keine Portweiterleitung namens „nosuch“.\n")
        err = self.ctl("remove", "sctp", "80", env=self.de)
        self.assertEqual(err.returncode, 2)
        self.assertEqual(err.stderr,
                         "Ungültiges Protokoll „sctp“: erwartet wird tcp, udp oder both.\n")

    # ---- unchanged by the locale ----

    def test_json_output_is_the_same_in_german(self):
        for args in (["--json=short", "status"], ["--json=pretty", "status"],
                     ["--json=short", "list"], ["--json=short", "port", "web"]):
            with self.subTest(args=args):
                en = self.ctl(*args, env=self.en)
                de = self.ctl(*args, env=self.de)
                self.assertEqual((en.returncode, de.returncode), (0, 0), en.stderr + de.stderr)
                json.loads(de.stdout)
                self.assertEqual(de.stdout, en.stdout)

    def test_portmapd_log_and_messages_stay_english(self):
        # the precondition of the checks below: GLib's own German catalog is there, and
        # what portmapd says before its options are read (their errors) is German
        bogus = self.run_portmapd("--bogus", env=self.de)
        self.assertEqual(bogus.returncode, 2)
        self.assertIn("Unbekannte Option --bogus", bogus.stderr,
                      "GLib's German catalog is missing: install libglib2.0-data")
        # after the options, English: the log of the daemon started in German...
        log = self.read_log()
        self.assertIn("mapping web active: external port ", log)
        self.assertIn("acquired org.portmap.Manager on the system bus", log)
        self.assertIsNone(GERMAN.search(log), log)
        # ... a configuration error, with GKeyFile's and GLib's texts it quotes...
        bad = os.path.join(self.workdir, "bad.conf")
        with open(bad, "w") as f:
            f.write("[Daemon]\nthis is not a key\n")
        cp = self.run_portmapd("--config", bad, "--print-config", env=self.de)
        self.assertEqual(cp.returncode, 2)
        self.assertIn("bad.conf:2: ", cp.stderr)
        self.assertIsNone(GERMAN.search(cp.stderr), cp.stderr)
        cp = self.run_portmapd("--config", os.path.join(self.workdir, "missing.conf"),
                               "--print-config", env=self.de)
        self.assertIsNone(GERMAN.search(cp.stderr), cp.stderr)
        # ... and --health, which quotes GLib's and the C library's messages
        cp = self.run_portmapd("--health", "--runtime-dir",
                               os.path.join(self.workdir, "nothing"), env=self.de)
        self.assertEqual(cp.returncode, 1)
        self.assertIn("Failed to open file", cp.stderr)
        self.assertIn("No such file or directory", cp.stderr)
        self.assertIsNone(GERMAN.search(cp.stderr), cp.stderr)


if __name__ == "__main__":
    unittest.main()
