#!/bin/bash
# riskpipe report: one self-contained HTML page with every chart, escaped
# against hostile category names, rendered by headless Chromium to a PNG
# that is checked not to be blank.
source "$(dirname "$0")/../lib.sh"
new_db report
M="$WORK/model.json"; R="$WORK/report.html"

expect_exit 0 "init" init --db "$DB"
expect_exit 0 "generate 3000 customers" generate --customers 3000 --seed 5 --db "$DB"
# a category name that would break (or script) a page if not escaped
sql "UPDATE transactions SET category = '<b>\"evil\"</b><script>alert(1)</script>&amp;'
     WHERE category = 'fees'"
expect_exit 0 "run" run --db "$DB" --model "$M" --csv "$WORK/pred.csv"

expect_exit 0 "report" report --model "$M" -o "$R"
expect_err "report written to" "says where the report is"
check "every chart is an inline SVG with its title, axes and data" $PYTHON - "$R" <<'PY'
import sys
from html.parser import HTMLParser
want = ["ROC curve", "Precision-recall curve", "KS chart", "Score distribution by class",
        "Calibration plot", "Lift by decile", "Confusion matrix", "Threshold trade-off",
        "Odds ratios with 95% confidence intervals"]
class P(HTMLParser):
    def __init__(self):
        super().__init__(); self.svgs = []; self.cur = None; self.in_title = False
    def handle_starttag(self, tag, a):
        a = dict(a)
        if tag == "svg":
            self.cur = {"title": None, "tags": {}, "classes": set(), "points": 0}
            assert a.get("role") == "img" and a.get("viewbox"), a
        elif self.cur is not None:
            self.cur["tags"][tag] = self.cur["tags"].get(tag, 0) + 1
            self.cur["classes"].add(a.get("class"))
            if tag == "title" and self.cur["title"] is None: self.in_title = True
            if tag == "polyline": self.cur["points"] = max(self.cur["points"], len(a["points"].split()))
    def handle_endtag(self, tag):
        if tag == "svg": self.svgs.append(self.cur); self.cur = None
        if tag == "title": self.in_title = False
    def handle_data(self, d):
        if self.in_title: self.cur["title"] = d
p = P(); p.feed(open(sys.argv[1], encoding="utf-8").read())
titles = [s["title"] for s in p.svgs]
assert titles == [t for t in want if t in titles] and set(want) <= set(titles), titles
for s in p.svgs:
    assert s["tags"].get("text", 0) >= 6, (s["title"], s["tags"])       # labels
    if s["title"] != "Confusion matrix":
        assert "axis" in s["classes"], s["title"]                         # an axis line
for t in ["ROC curve", "Precision-recall curve", "KS chart", "Threshold trade-off"]:
    s = p.svgs[titles.index(t)]
    assert s["points"] > 20, (t, s["points"])                             # a real curve
s = p.svgs[titles.index("Lift by decile")]
assert s["tags"]["rect"] >= 10, s["tags"]
s = p.svgs[titles.index("Odds ratios with 95% confidence intervals")]
assert s["tags"]["circle"] >= 20, s["tags"]
print(len(titles), "charts")
PY
check "the page is self-contained: no script, no fetched font, stylesheet or image" \
    $PYTHON - "$R" <<'PY'
import re, sys
h = open(sys.argv[1], encoding="utf-8").read().lower()
assert "<script" not in h and "<link" not in h and "<img" not in h and "@import" not in h
assert "url(" not in h and "@font-face" not in h
assert set(re.findall(r"https?://[^\s\"'<>]*", h)) <= {"http://www.w3.org/2000/svg"}
PY
for what in "Data" "features as of" "labelled customers" "label rate" "missing" \
            "Feature columns" "Fit diagnostics" "Model card" "data fingerprint" \
            "riskpipe 0" "C (inverse penalty)" "cumulative share of high-risk found"; do
    grep -q "$what" "$R" && ok "the page shows: $what" || not_ok "the page shows: $what"
done
grep -q '&lt;b&gt;&quot;evil&quot;&lt;/b&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;amp;' "$R" \
    && ok "a hostile category name is shown, escaped" \
    || not_ok "a hostile category name is shown, escaped" "$(grep -o '.\{40\}evil.\{60\}' "$R" | head -2)"

# the model's scoring runs (and their unseen-category counts) with --db
expect_exit 0 "report --db lists the scoring runs" report --model "$M" -o "$WORK/r2.html" --db "$DB"
grep -q "unseen text values" "$WORK/r2.html" && grep -q "<td class=\"n\">3000</td>" "$WORK/r2.html" \
    && ok "the run that scored 3000 customers is listed" \
    || not_ok "the run that scored 3000 customers is listed" "$(grep -o 'scoring run.\{200\}' "$WORK/r2.html")"

# failures: a missing model, an unwritable destination (nothing left behind)
expect_exit 2 "a missing model file" report --model "$WORK/none.json" -o "$WORK/x.html"
expect_exit 4 "an output folder that does not exist" report --model "$M" -o "$WORK/no/such/dir/r.html"
expect_err 'could not write report "[^"]*/no/such/dir/r.html"' "the message names the file"
ls "$WORK"/*.tmp.* >/dev/null 2>&1 && not_ok "no temporary file left" || ok "no temporary file left"

# headless Chromium renders it; the screenshot is not blank
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROME" ]; then
    not_ok "chromium is installed" "install Debian's chromium (RISKPIPE_DEPS_TEST=1 make deps)"
else
    PROFILE=$(mktemp -d "$WORK/chrome.XXXXXX")
    flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
           --disable-background-networking --disable-component-update --disable-sync
           --user-data-dir="$PROFILE")
    timeout 120 "$CHROME" "${flags[@]}" --screenshot="$WORK/report.png" --window-size=1200,4000 \
        "file://$R" >"$WORK/chrome.log" 2>&1
    check "Chromium wrote a 1200x4000 screenshot" test -s "$WORK/report.png"
    timeout 120 "$CHROME" "${flags[@]}" --dump-dom "file://$R" >"$WORK/dom.html" 2>>"$WORK/chrome.log"
    eq "Chromium's DOM holds the nine charts" "$(grep -o '<svg ' "$WORK/dom.html" | wc -l)" "9"
    check "the screenshot is not blank: many colours, the palette's blue and orange drawn" \
        $PYTHON - "$WORK/report.png" <<'PY'
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
assert im.size == (1200, 4000), im.size
colours = im.getcolors(maxcolors=1 << 20)
assert colours is not None and len(colours) > 200, len(colours or [])
n = im.size[0] * im.size[1]
white = sum(c for c, rgb in colours if min(rgb) >= 250)
assert 0.05 < 1 - white / n < 0.9, white / n        # ink, but not a black page
counts = dict((rgb, c) for c, rgb in colours)
near = lambda ref: sum(c for rgb, c in counts.items() if max(abs(a - b) for a, b in zip(rgb, ref)) < 24)
assert near((0x00, 0x72, 0xB2)) > 500, "no blue curves"          # ROC, KS, calibration
assert near((0xD5, 0x5E, 0x00)) > 500, "no orange bars"          # score histogram
print(len(colours), "colours, %.1f%% ink" % (100 - 100 * white / n))
PY
fi
