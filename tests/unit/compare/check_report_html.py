#!/usr/bin/env python3
"""Regenerates report.html from the recorded report.json with report-render
and checks it with two independent parsers: Python's strict XML parser (the
page is written as polyglot XHTML, so any unbalanced or unescaped markup is a
parse error) and html.parser with an explicit tag stack. Also checks that it is
self-contained (no script, no external reference) and has one <svg> per chart.
Usage: check_report_html.py REPORT_RENDER FIXTURE"""
import html.parser
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

VOID = {"meta", "br", "link", "img", "hr", "input", "area", "base", "col", "embed",
        "source", "track", "wbr"}


class Balance(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.svgs, self.text = [], [], 0, []
        self.in_svg = 0

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.errors.append("script element")
        for name, value in attrs:
            if name in ("src", "href", "xlink:href") or name.startswith("on"):
                self.errors.append(f"attribute {name}={value!r} on <{tag}>")
        if tag == "svg":
            self.svgs += 1
        if tag not in VOID:
            self.stack.append((tag, self.getpos()))

    def handle_startendtag(self, tag, attrs):
        if tag == "svg":
            self.svgs += 1

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1][0] != tag:
            self.errors.append(f"</{tag}> at {self.getpos()} closes {self.stack[-1:]}")
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def main():
    render, fixture = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as out:
        table = subprocess.run([render, fixture, out], check=True, capture_output=True,
                               text=True).stdout
        page = open(os.path.join(out, "report.html"), encoding="utf-8").read()
    failures = []
    with open(fixture, encoding="utf-8") as f:
        rep = json.load(f)
    results = [s[a] for s in rep["steps"] for a in ("immutable", "mutable") if s.get(a)]
    memory_unmeasured = any(r.get("peak_memory_bytes") is None for r in results)
    errors = [r["error"] for r in results if r.get("error")]

    try:
        root = ET.fromstring(page.split("\n", 1)[1])  # after <!DOCTYPE html>
    except ET.ParseError as e:
        failures.append(f"not well-formed XML: {e}")
        root = None

    p = Balance()
    p.feed(page)
    p.close()
    failures += p.errors
    if p.stack:
        failures.append(f"unclosed elements: {p.stack}")

    ns = "{http://www.w3.org/2000/svg}"
    if root is not None:
        figures = root.iter("figure")
        nfig = 0
        for fig in figures:
            nfig += 1
            svgs = list(fig.iter(ns + "svg"))
            if len(svgs) != 1:
                failures.append(f"figure {fig.get('id')} holds {len(svgs)} charts")
        steps = page.count('id="chart-probe-')
        if nfig != 11 + steps or steps != 2:
            failures.append(f"{nfig} figures for {steps} steps, want 11 + steps")
        if len(list(root.iter(ns + "svg"))) != p.svgs:
            failures.append("svg count differs between parsers")
        # An unmeasured peak memory says so, in the chart and the table.
        if memory_unmeasured:
            mem = [f for f in root.iter("figure") if f.get("id") == "chart-memory"][0]
            words = " ".join(t for t in mem.itertext())
            if "not measured" not in words:
                failures.append("memory chart does not say 'not measured'")
        # Markup in an error message comes out as text, not as markup.
        text = " ".join(p.text)
        for e in errors:
            if "<" in e and e not in text:
                failures.append(f"error text {e!r} did not survive as text")
    if memory_unmeasured and "not measured" not in table:
        failures.append("text table does not say 'not measured'")
    if "url(" in page or "@import" in page:
        failures.append("external reference in CSS")

    for f in failures:
        print("FAIL:", f)
    if not failures:
        print(f"ok: well-formed (XML and HTML parsers), {p.svgs} charts, self-contained")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
