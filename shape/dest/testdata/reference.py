#!/usr/bin/env python3
"""Reference implementation of the destination algorithm (docs/design.md §6a,
package shape/dest) for runtimes that are not Go, checked against
vectors.json:

    python3 reference.py [--psl /usr/share/publicsuffix/public_suffix_list.dat]

Needs the `idna` package (pip install idna) and a public suffix list file.
Known differences from the Go package, none reached by the vectors: the
public suffix list version; keys that occur twice in one JSON object (Go
takes the first); JSON that Python accepts and Go's parser does not (NaN).
"""
import hashlib
import hmac
import ipaddress
import json
import os
import re
import sys

import idna

GO_SPACE = set("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {chr(c) for c in range(0x2000, 0x200B)}
MAX_VALUE_BYTES = 4096
SCAN_BYTES = 256 << 10
MAX_INPUT, MAX_OUTPUT = 64, 256
DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443", "ftp": "21"}
TEXT_PATTERN = re.compile(
    r"""\b(?:([Hh][Tt][Tt][Pp][Ss]?|[Ww][Ss][Ss]?|[Ff][Tt][Pp])://([^\t\n\v\f\r /?#<>"'`()\[\]{}|\\^,;]+)"""
    r"""|([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"""
    r"""|([A-Z]{2}[0-9]{2}(?:[A-Z0-9]{10,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{0,3}[0-9])?)\b)"""
    r"""|((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,63})\b)""",
    re.ASCII,
)


class PSL:
    """Public suffix list: PublicSuffix and EffectiveTLDPlusOne as in
    golang.org/x/net/publicsuffix (ICANN and private sections)."""

    def __init__(self, path):
        self.rules = {}  # rule -> icann
        icann = False
        for line in open(path, encoding="utf-8"):
            line = line.strip()
            if "BEGIN ICANN DOMAINS" in line:
                icann = True
            elif "END ICANN DOMAINS" in line:
                icann = False
            if not line or line.startswith("//"):
                continue
            rule = line.split()[0]
            prefix = "!" if rule.startswith("!") else "*." if rule.startswith("*.") else ""
            self.rules[prefix + idna_or_lower(rule[len(prefix) :])] = icann

    def public_suffix(self, domain):
        try:
            ipaddress.ip_address(domain)  # x/net: an IP address is its own suffix
            return domain, False
        except ValueError:
            pass
        labels = domain.split(".")
        for i in range(len(labels)):
            cand = ".".join(labels[i:])
            if "!" + cand in self.rules:
                return ".".join(labels[i + 1 :]), self.rules["!" + cand]
            if cand in self.rules:
                return cand, self.rules[cand]
            if i + 1 < len(labels) and "*." + ".".join(labels[i + 1 :]) in self.rules:
                return cand, self.rules["*." + ".".join(labels[i + 1 :])]
        return labels[-1], False

    def etld_plus_one(self, domain):
        if domain.startswith(".") or domain.endswith(".") or ".." in domain:
            return None
        suffix, _ = self.public_suffix(domain)
        if len(domain) <= len(suffix):
            return None
        rest = domain[: len(domain) - len(suffix) - 1]
        return rest.split(".")[-1] + "." + suffix


def lower(s):
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in s)


def upper(s):
    return "".join(chr(ord(c) - 32) if "a" <= c <= "z" else c for c in s)


def idna_or_lower(h):
    if h.isascii():
        return lower(h)
    try:
        a = idna.encode(h, uts46=True, transitional=False, std3_rules=True).decode("ascii")
        return a if a and "" not in a.split(".") else lower(h)
    except idna.IDNAError:
        return lower(h)


def trim(s):
    i, j = 0, len(s)
    while i < j and s[i] in GO_SPACE:
        i += 1
    while j > i and s[j - 1] in GO_SPACE:
        j -= 1
    return s[i:j]


def clean(s):
    b = s.encode("utf-8", "surrogatepass")
    if len(b) > MAX_VALUE_BYTES:
        i = MAX_VALUE_BYTES
        while i > 0 and (b[i] & 0xC0) == 0x80:
            i -= 1
        b = b[:i]
    return b.decode("utf-8", "replace")


def norm_host(h):
    if h.endswith("."):
        h = h[:-1]
    if not h:
        return "", False
    if h.startswith("[") and h.endswith("]"):
        try:
            return "[" + ipaddress.IPv6Address(h[1:-1]).compressed + "]", True
        except ValueError:
            return lower(h), True
    try:
        return str(ipaddress.IPv4Address(h)), True
    except ValueError:
        pass
    return idna_or_lower(h), False


def email_entries(s):
    out = []
    for part in re.split(r"[,;]", s):
        p = trim(part)
        if "<" in p:
            p = p[p.rindex("<") + 1 :]
            if ">" in p:
                p = p[: p.index(">")]
            p = trim(p)
        if lower(p[:7]) == "mailto:":
            p = p[7:].split("?", 1)[0]
        at = p.rfind("@")
        if at <= 0 or at == len(p) - 1 or any(c in GO_SPACE for c in p):
            continue
        d, _ = norm_host(p[at + 1 :])
        if not d:
            continue
        out += ["email:" + lower(p[:at]) + "@" + d, "email_domain:" + d]
    return out


def all_digits(s):
    return re.fullmatch(r"[0-9]*", s, re.ASCII) is not None


def is_scheme(s):
    return re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", s, re.ASCII) is not None


def url_entries(s, psl):
    s = trim(s)
    scheme = "http"
    i = s.find("://")
    if i > 0 and is_scheme(s[:i]):
        scheme, s = lower(s[:i]), s[i + 3 :]
    elif s.startswith("//"):
        s = s[2:]
    m = re.search(r"[/?#\\]", s)
    if m:
        s = s[: m.start()]
    if "@" in s:
        s = s[s.rindex("@") + 1 :]
    host, port = s, ""
    if s.startswith("["):
        if "]" in s:
            k = s.index("]")
            host, rest = s[: k + 1], s[k + 1 :]
            if rest.startswith(":") and all_digits(rest[1:]):
                port = rest[1:]
    elif ":" in s and all_digits(s[s.rindex(":") + 1 :]):
        k = s.rindex(":")
        host, port = s[:k], s[k + 1 :]
    if port == DEFAULT_PORTS.get(scheme):
        port = ""
    h, ip = norm_host(host)
    if not h:
        return []
    out = ["host:" + h + (":" + port if port else "")]
    if not ip:
        out.append("domain:" + (psl.etld_plus_one(h) or h))
    return out


def name(s):
    return " ".join(w for w in "".join(" " if c in GO_SPACE else c for c in s).split(" ") if w).casefold()


def scan(s, psl, budget):
    s = s.encode("utf-8")[: budget[0]].decode("utf-8", "ignore")
    budget[0] -= len(s.encode("utf-8"))
    out = []
    for m in TEXT_PATTERN.finditer(s):
        if m.group(1):
            out += url_entries(m.group(1) + "://" + m.group(2), psl)
        elif m.group(3):
            out += email_entries(m.group(3))
        elif m.group(4):
            out.append("account:" + upper("".join(c for c in m.group(4) if c not in GO_SPACE)))
        else:
            d = lower(m.group(5))
            suf, icann = psl.public_suffix(d)
            if icann and len(suf) < len(d):
                out += url_entries(d, psl)
    return out


class IntLit(str):
    pass


def string_entries(kind, s, psl, budget):
    if kind == "text":
        return scan(s, psl, budget) if budget[0] > 0 else []
    s = clean(s)
    if kind == "email":
        return email_entries(s)
    if kind == "url":
        return url_entries(s, psl) if trim(s) else []
    if kind == "account":
        a = upper("".join(c for c in s if c not in GO_SPACE))
        return ["account:" + a] if a else []
    if kind == "chat":
        c = trim(s)
        if c[:1] in ("@", "#"):
            c = c[1:]
        c = name(c)
        return ["chat:" + c] if c else []
    if kind == "party":
        c = name(s)
        return ["party:" + c] if c else []
    return []


def text_value(v, psl, budget, depth=0):
    out = []
    if depth > 64 or budget[0] <= 0:
        return out
    if isinstance(v, IntLit) or isinstance(v, (int, float, bool)) or v is None:
        return out
    if isinstance(v, str):
        return scan(v, psl, budget) if budget[0] > 0 else []
    if isinstance(v, list):
        for el in v:
            out += text_value(el, psl, budget, depth + 1)
    elif isinstance(v, dict):
        for k, c in v.items():
            if budget[0] > 0:
                out += scan(k, psl, budget)
            out += text_value(c, psl, budget, depth + 1)
    return out


def walk(kind, v, segs, arrays, psl, budget):
    if isinstance(v, list) and (segs or kind != "text"):
        if arrays >= 8:
            return []
        return [e for el in v for e in walk(kind, el, segs, arrays + 1, psl, budget)]
    if not segs:
        if isinstance(v, IntLit):
            lit = str(v)
            return string_entries(kind, lit, psl, budget) if kind in ("account", "chat", "party") and lit.isdigit() else []
        if isinstance(v, str):
            return string_entries(kind, v, psl, budget)
        if kind == "text" and isinstance(v, (dict, list)):
            return text_value(v, psl, budget)
        return []
    if not isinstance(v, dict):
        return []
    if segs[0] == "*":
        return [e for c in v.values() for e in walk(kind, c, segs[1:], arrays, psl, budget)]
    return walk(kind, v[segs[0]], segs[1:], arrays, psl, budget) if segs[0] in v else []


def glob(pattern, name):
    # path.Match without '/' special cases (the tool name's '/' is not special here either).
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, name, re.S) is not None


def destinations(rules, key, tool, direction, raw, psl):
    paths = []
    for r in rules:
        if glob(lower(r["tool"]), lower(tool)):
            paths += sorted((r.get(direction) or {}).items())
    budget = [SCAN_BYTES]
    t = trim(raw)
    root, ok = None, False
    if t[:1] in ("{", "[", '"'):
        try:
            root, ok = json.loads(t, parse_int=IntLit), True
        except ValueError:
            pass
    entries = []
    for p, kind in paths:
        segs = [] if p == "." else p.split(".")
        if ok:
            entries += walk(kind, root, segs, 0, psl, budget)
        elif not segs and raw:
            entries += string_entries(kind, raw, psl, budget)
    normalized = sorted(set(entries))
    hashed = sorted(
        {e[: e.index(":") + 1] + hmac.new(key, e.encode("utf-8"), hashlib.sha256).hexdigest()[:32] for e in normalized}
    )
    return normalized, hashed[: MAX_INPUT if direction == "input" else MAX_OUTPUT]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    psl_path = "/usr/share/publicsuffix/public_suffix_list.dat"
    if len(sys.argv) == 3 and sys.argv[1] == "--psl":
        psl_path = sys.argv[2]
    psl = PSL(psl_path)
    vf = json.load(open(os.path.join(here, "vectors.json"), encoding="utf-8"))
    builtins = json.load(open(os.path.join(here, "builtins.json"), encoding="utf-8"))
    key = vf["key"].encode("utf-8")
    bad = 0
    for v in vf["vectors"]:
        rules = v.get("rules") or builtins
        norm, got = destinations(rules, key, v["tool"], v["direction"], v["raw"], psl)
        if norm != v["normalized"] or got != v["expected"]:
            bad += 1
            print("MISMATCH", v["name"], norm, got, file=sys.stderr)
    print(f"{len(vf['vectors'])} vectors, {bad} mismatches")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
