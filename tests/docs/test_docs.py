#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The man pages (scdoc sources in data/) checked against the programs they document, and
the bash completion checked in a bash subshell. Each test method is one meson test (suite
"docs"); a missing tool makes a test skip (exit status 77), except scdoc, whose absence
fails the scdoc tests: the pages could then be neither checked nor built (-Dman)."""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("PORTMAP_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
DATA = os.path.join(SOURCE_ROOT, "data")
BUILDDIR = os.environ.get("PORTMAP_BUILDDIR", os.path.join(SOURCE_ROOT, "build"))
PORTMAPD = os.environ.get("PORTMAPD") or os.path.join(BUILDDIR, "daemon", "portmapd")
PORTMAPCTL = os.environ.get("PORTMAPCTL") or os.path.join(BUILDDIR, "client", "portmapctl",
                                                          "portmapctl")
PORTMAP_APPLET = os.environ.get("PORTMAP_APPLET") or os.path.join(BUILDDIR, "client", "applet",
                                                                  "portmap-applet")
SCDOC = os.environ.get("SCDOC") or shutil.which("scdoc")
BASH = os.environ.get("BASH_PROGRAM") or shutil.which("bash")
GROFF = os.environ.get("GROFF") or shutil.which("groff")

PAGES = {
    "portmapd.8": os.path.join(DATA, "portmapd.8.scd"),
    "portmapctl.1": os.path.join(DATA, "portmapctl.1.scd"),
    "portmapd.conf.5": os.path.join(DATA, "portmapd.conf.5.scd"),
    "portmap-applet.1": os.path.join(DATA, "portmap-applet.1.scd"),
}
COMPLETION = os.path.join(DATA, "portmapctl.bash-completion")
CONFIG_C = os.path.join(SOURCE_ROOT, "daemon", "config.c")
# each provider class reads its own keys of [Provider NAME] (daemon/providers/provider.h)
PROVIDERS_C = sorted(glob.glob(os.path.join(SOURCE_ROOT, "daemon", "providers", "*.c")))
# and each consumer class those of [Consumer NAME] (daemon/consumers/consumer.h)
CONSUMERS_C = sorted(glob.glob(os.path.join(SOURCE_ROOT, "daemon", "consumers", "*.c")))
MAIN_C = os.path.join(SOURCE_ROOT, "daemon", "main.c")
PORTMAPCTL_C = os.path.join(SOURCE_ROOT, "client", "portmapctl", "portmapctl.c")
EXAMPLE_CONF = os.path.join(DATA, "portmapd.conf.example")

# what the design (§5) promises, whatever the parsing of the sources below finds
DESIGN_VERBS = ["status", "list", "add", "remove", "refresh", "port", "discover", "monitor",
                "reload"]

# untranslated output, whatever the environment running the tests
C_ENV = dict(os.environ, LC_ALL="C", LANGUAGE="", NO_COLOR="1")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def plain(scd):
    """scdoc source without its markup (*bold*, _underline_, backslash escapes); what is
    left is for looking up words, not for reading."""
    text = re.sub(r"\\(.)", r"\1", scd)
    return text.replace("*", "").replace("_", "")


def help_long_options(text):
    """Every --long-option named on an option line of a --help text."""
    options = set()
    for line in text.splitlines():
        if re.match(r"\s*-", line):
            options.update(re.findall(r"(?<![\w-])--([a-z][a-z0-9-]*)", line))
    return options


def run(args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, env=C_ENV, timeout=60,
                          **kwargs)


class DocsTest(unittest.TestCase):
    maxDiff = None

    def require(self, program, what):
        if not program or not os.access(program, os.X_OK):
            self.skipTest(f"{what} is not available")

    # ---- (a) options and verbs ----

    def check_options_documented(self, program, page):
        self.require(program, os.path.basename(program))
        result = run([program, "--help"])
        self.assertEqual(result.returncode, 0, result.stderr)
        options = help_long_options(result.stdout)
        # a help text without options means the parsing above is broken, not the page
        self.assertGreaterEqual(len(options), 5, result.stdout)
        scd = read(PAGES[page])
        # each option is a definition term of its own, at the start of a line:
        # "*--option*", "*--option*=_VALUE_" or "*-o*, *--option*..."
        missing = sorted(f"--{o}" for o in options
                         if not re.search(rf"^(\*-\w\*, )?\*--{re.escape(o)}\*(=|$)", scd,
                                          re.M))
        self.assertEqual(missing, [], f"options of {program} --help not documented as "
                                      f"*--OPTION* terms in {PAGES[page]}")
        return options

    def test_portmapd_help_options_documented(self):
        options = self.check_options_documented(PORTMAPD, "portmapd.8")
        # every GOptionEntry of main.c is in --help
        table = re.search(r"GOptionEntry entries\[\] = \{(.*?)\{NULL\}", read(MAIN_C), re.S)
        self.assertIsNotNone(table, "the GOptionEntry table of main.c")
        entries = set(re.findall(r'\{"([a-z][a-z0-9-]*)",\s*(?:\'.\'|0),', table.group(1)))
        self.assertGreaterEqual(len(entries), 5)
        self.assertEqual(sorted(entries - options), [], "options missing from --help")

    def test_portmapctl_help_options_documented(self):
        self.check_options_documented(PORTMAPCTL, "portmapctl.1")

    def test_portmap_applet_help_options_documented(self):
        self.check_options_documented(PORTMAP_APPLET, "portmap-applet.1")

    def test_portmapctl_help_lists_every_option(self):
        self.require(PORTMAPCTL, "portmapctl")
        code = read(PORTMAPCTL_C)
        table = re.search(r"static const struct option options\[\] = \{(.*?)\n\t\};", code,
                          re.S)
        self.assertIsNotNone(table, "the getopt options table of portmapctl.c")
        implemented = set(re.findall(r'\{\s*"([a-z][a-z0-9-]*)",', table.group(1)))
        self.assertGreaterEqual(len(implemented), 10)
        helped = help_long_options(run([PORTMAPCTL, "--help"]).stdout)
        self.assertEqual(sorted(implemented - helped), [], "options missing from --help")
        self.assertEqual(sorted(helped - implemented), [], "--help names unknown options")

    def test_portmapctl_verbs_documented(self):
        code = read(PORTMAPCTL_C)
        table = re.search(r"static const Verb verbs\[\] = \{(.*?)\n\};", code, re.S)
        self.assertIsNotNone(table, "the verbs table of portmapctl.c")
        verbs = re.findall(r'\{\s*"([a-z-]+)",', table.group(1))
        for verb in DESIGN_VERBS:
            self.assertIn(verb, verbs, "verbs table parsed wrongly")
        scd = read(PAGES["portmapctl.1"])
        # each verb is a definition term of its own: "*verb*" at the start of a line
        missing = [v for v in verbs if not re.search(rf"^\*{re.escape(v)}\*", scd, re.M)]
        self.assertEqual(missing, [], "verbs not documented in portmapctl.1.scd")

        # and every command listed by --help is a verb
        if os.access(PORTMAPCTL, os.X_OK):
            text = run([PORTMAPCTL, "--help"]).stdout
            commands = re.search(r"^Commands:\n(.*?)\n\n", text, re.S | re.M)
            self.assertIsNotNone(commands, text)
            listed = re.findall(r"^  ([a-z]+)", commands.group(1), re.M)
            self.assertEqual(sorted(set(listed) - set(verbs)), [])
            self.assertEqual(sorted(set(DESIGN_VERBS) - set(listed)), [])

    # ---- (b) configuration keys ----

    def parser_keys(self):
        code = read(CONFIG_C) + "".join(read(path) for path in PROVIDERS_C + CONSUMERS_C)
        keys = set(re.findall(r'entry->key,\s*"([A-Za-z]+)"', code))
        keys |= set(re.findall(r'pm_config_(?:group|section)_lookup\(\s*\w+,\s*"([A-Za-z]+)"\)',
                               code))
        # the classes' key tables (PmConfigKey, config.h): {"Key", parse, G_STRUCT_OFFSET(...)}
        keys |= set(re.findall(r'\{\s*"([A-Za-z]+)",\s*\w+,\s*G_STRUCT_OFFSET\(', code))
        return keys

    def test_config_keys_documented(self):
        keys = self.parser_keys()
        # [Daemon] 4, [Provider] 6, [Mapping] 5 different names at least: a smaller set
        # means the parsing of config.c and the provider and consumer classes no longer
        # finds them
        self.assertGreaterEqual(len(keys), 15, sorted(keys))

        # the keys portmapd writes back must be among the keys found in the source
        if os.access(PORTMAPD, os.X_OK):
            result = run([PORTMAPD, "--print-config", "--config", EXAMPLE_CONF])
            self.assertEqual(result.returncode, 0, result.stderr)
            printed = set(re.findall(r"^([A-Za-z]+)=", result.stdout, re.M))
            self.assertGreaterEqual(len(printed), 10, result.stdout)
            self.assertEqual(sorted(printed - keys), [],
                             "--print-config prints keys that config.c or a provider or "
                             "consumer class was not seen to parse")
            keys |= printed
        for key in re.findall(r"^([A-Za-z]+)=", read(EXAMPLE_CONF), re.M):
            self.assertIn(key, keys, f"{key}= of the example is not parsed")

        scd = read(PAGES["portmapd.conf.5"])
        # each key is a definition term: "*Key=*" at the start of a line
        missing = sorted(k for k in keys if not re.search(rf"^\*{k}=\*", scd, re.M))
        self.assertEqual(missing, [], "keys not documented in portmapd.conf.5.scd")

    def test_config_groups_documented(self):
        code = read(CONFIG_C)
        accepted = re.search(r'#define PM_CONFIG_ACCEPTED_HEADERS[\s\\]*((?:"[^"]*"[\s\\]*)+)',
                             code)
        self.assertIsNotNone(accepted)
        text = "".join(re.findall(r'"([^"]*)"', accepted.group(1)))
        groups = re.findall(r"\[([A-Za-z]+(?: NAME)?)\]", text)
        self.assertGreaterEqual(len(groups), 9, text)
        page = plain(read(PAGES["portmapd.conf.5"]))
        page = re.sub(r"\s+", " ", page)
        missing = [g for g in groups if f"[{g}]" not in page]
        self.assertEqual(missing, [], "groups not named in portmapd.conf.5.scd")
        # every group of the design is read; the page says that others are refused
        self.assertIn("Any other group is an error (\"unknown group\")", page)

    # ---- (c) scdoc ----

    def check_scdoc(self, page):
        if not SCDOC or not os.access(SCDOC, os.X_OK):
            self.fail("scdoc is not installed, so the man pages can be neither checked nor "
                      "built (meson setup -Dman=auto leaves them out without it): install "
                      "scdoc (Debian: apt install scdoc; tests/install-deps does)")
        with open(PAGES[page], "rb") as f:
            result = subprocess.run([SCDOC], stdin=f, capture_output=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr.decode(errors="replace"))
        self.assertEqual(result.stderr, b"", f"scdoc warns about {PAGES[page]}")
        name, section = page.rsplit(".", 1)
        self.assertRegex(result.stdout.decode(), rf'(?m)^\.TH "{re.escape(name)}" "{section}"')
        return result.stdout

    def check_groff(self, page):
        roff = self.check_scdoc(page)
        self.require(GROFF, "groff")
        result = subprocess.run([GROFF, "-man", "-t", "-Tutf8", "-ww", "-z"], input=roff,
                                capture_output=True, timeout=60)
        self.assertEqual(result.returncode, 0)
        self.assertEqual(result.stderr.decode(errors="replace"), "",
                         f"groff warns about the page built from {PAGES[page]}")

    def test_scdoc_portmapd_8(self):
        self.check_groff("portmapd.8")

    def test_scdoc_portmapctl_1(self):
        self.check_groff("portmapctl.1")

    def test_scdoc_portmapd_conf_5(self):
        self.check_groff("portmapd.conf.5")

    def test_scdoc_portmap_applet_1(self):
        self.check_groff("portmap-applet.1")

    # ---- (d) bash completion ----

    def complete(self, *words, stub=None):
        """COMPREPLY for a command line whose last word is being completed, as bash's
        readline would split it (so "--json=p" is given as "--json", "=", "p")."""
        self.require(BASH, "bash")
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(C_ENV, HOME=tmp)
            if stub is not None:
                # a fake portmapctl first in PATH: the completion must find it there
                path = os.path.join(tmp, "portmapctl")
                with open(path, "w") as f:
                    f.write(stub)
                os.chmod(path, 0o755)
                env["PATH"] = tmp + os.pathsep + env.get("PATH", "/usr/bin:/bin")
            script = textwrap.dedent("""\
                source "$1"; shift
                COMP_WORDS=("$@")
                COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
                COMP_LINE="${COMP_WORDS[*]}"
                COMP_POINT=${#COMP_LINE}
                spec=$(complete -p portmapctl) || exit 3
                func=${spec#*-F }; func=${func%% *}
                "$func" portmapctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
                printf '%s\\n' "${COMPREPLY[@]}"
                """)
            result = subprocess.run([BASH, "--norc", "--noprofile", "-c", script, "bash",
                                     COMPLETION, *words], capture_output=True, text=True,
                                    env=env, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, "", "the completion writes to the terminal")
        return [w for w in result.stdout.split("\n") if w]

    def test_completion_syntax(self):
        self.require(BASH, "bash")
        result = run([BASH, "-n", COMPLETION])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, "")

    def test_completion_verbs(self):
        offered = self.complete("portmapctl", "")
        for verb in DESIGN_VERBS:
            self.assertIn(verb, offered)
        table = re.search(r"static const Verb verbs\[\] = \{(.*?)\n\};", read(PORTMAPCTL_C),
                          re.S)
        verbs = re.findall(r'\{\s*"([a-z-]+)",', table.group(1))
        self.assertEqual(sorted(offered), sorted(verbs))
        self.assertEqual(self.complete("portmapctl", "re"), ["remove", "refresh", "reload"])
        # options before the verb, with their value as the next word, do not count as verb
        self.assertEqual(self.complete("portmapctl", "--wait", "5", "mon"), ["monitor"])

    def test_completion_add_protocols(self):
        self.assertEqual(sorted(self.complete("portmapctl", "add", "")),
                         ["both", "tcp", "udp"])
        self.assertEqual(self.complete("portmapctl", "--no-block", "add", "u"), ["udp"])
        # PORT is a number: nothing to offer
        self.assertEqual(self.complete("portmapctl", "add", "tcp", ""), [])
        self.assertIn("--require-external-port",
                      self.complete("portmapctl", "add", "tcp", "80", "--"))

    def test_completion_json_option(self):
        self.assertEqual(self.complete("portmapctl", "--js"), ["--json="])
        self.assertEqual(sorted(self.complete("portmapctl", "--json", "=", "")),
                         ["off", "pretty", "short"])
        self.assertEqual(self.complete("portmapctl", "--json", "=", "p"), ["pretty"])
        self.assertEqual(sorted(self.complete("portmapctl", "--json", "")),
                         ["off", "pretty", "short"])
        self.assertEqual(self.complete("portmapctl", "--wa"), ["--wait="])
        options = self.complete("portmapctl", "--")
        for option in help_long_options(run([PORTMAPCTL, "--help"]).stdout
                                        if os.access(PORTMAPCTL, os.X_OK) else ""):
            self.assertTrue(f"--{option}" in options or f"--{option}=" in options,
                            f"--{option} is not completed")

    LIST_STUB = textwrap.dedent("""\
        #!/bin/sh
        # a portmapctl that knows three mappings, one with a last error
        echo "the completion must not show this" >&2
        case " $* " in
        *" list "*)
            echo "web     home tcp     8080  40123 203.0.113.7 active   in 59min persistent"
            echo "torrent vpn  tcp+udp 51413 51413 -           retrying -        persistent"
            echo "    GatewayUnreachable: no answer from 10.2.0.1"
            echo "bus-3   home udp     27015 -     -           failed   -        runtime"
            ;;
        *" status "*)
            printf '%s\\n' '{"Version":"0.1.0","Providers":[{"Name":"home","Type":"natpmp"},{"Name":"vpn","Type":"natpmp"}],"Mappings":[{"Name":"web"}]}'
            ;;
        *) exit 1 ;;
        esac
        """)

    def test_completion_mapping_names(self):
        names = ["bus-3", "torrent", "web"]
        for verb in ("refresh", "port"):
            self.assertEqual(sorted(self.complete("portmapctl", verb, "",
                                                  stub=self.LIST_STUB)), names)
        self.assertEqual(sorted(self.complete("portmapctl", "remove", "",
                                              stub=self.LIST_STUB)),
                         sorted(names + ["both", "tcp", "udp"]))
        self.assertEqual(self.complete("portmapctl", "port", "t", stub=self.LIST_STUB),
                         ["torrent"])
        # one name only
        self.assertEqual(self.complete("portmapctl", "port", "web", "", stub=self.LIST_STUB),
                         [])
        # no daemon (the stub fails): nothing, and nothing on the terminal
        failing = "#!/bin/sh\necho 'portmapd is not running' >&2\nexit 1\n"
        self.assertEqual(self.complete("portmapctl", "refresh", "", stub=failing), [])

    def test_completion_provider_names(self):
        self.assertEqual(sorted(self.complete("portmapctl", "add", "tcp", "80", "--provider",
                                              "", stub=self.LIST_STUB)), ["home", "vpn"])
        self.assertEqual(self.complete("portmapctl", "add", "--provider", "=", "v",
                                       stub=self.LIST_STUB), ["vpn"])


if __name__ == "__main__":
    program = unittest.main(exit=False, verbosity=2)
    result = program.result
    if not result.wasSuccessful():
        sys.exit(1)
    # a test that could not run (a tool is missing) is a skip for meson
    sys.exit(77 if result.skipped and result.testsRun == len(result.skipped) else 0)
