#!/usr/bin/env python3
"""Writes the MovieLens prompts both halves of bench/model.sh read (one JSON object a line:
{"prompt": str, "label": 0|1, "user": str, "target": str}).

Same construction as mosx (METHOD.md §3-§4), standard library + jinja2 only:
* ML-100K RecBole atomic files; an item's title is `movie_title (release_year)` when the year
  has four digits, else the bare title.
* Each user's interactions sorted by (timestamp, item id); one window of 11 consecutive
  interactions per sampled user, at a seeded random offset: the first 10 are the history, the
  11th the target; a history item is "liked" iff its rating > 3, the label is 1 iff the
  target's rating > 3.
* Rendered with templates/prompts/tallrec.j2 (the `implicit` setting: no profile, noun
  "movie"), trailing whitespace stripped as mosx's PromptTemplate::render does.

Usage: model_prompts.py DATA_DIR TEMPLATES_DIR OUT.jsonl [N] [SEED]
"""
import json
import random
import sys
from pathlib import Path

import jinja2

WINDOW, THRESHOLD = 11, 3.0


def read_atomic(path: Path):
    with path.open(encoding="utf-8") as f:
        header = [c.split(":")[0] for c in f.readline().rstrip("\n").split("\t")]
        for line in f:
            yield dict(zip(header, line.rstrip("\n").split("\t")))


def main() -> None:
    data, templates, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 64
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    titles = {}
    for r in read_atomic(data / "ml-100k.item"):
        year = r.get("release_year", "")
        titles[r["item_id"]] = f'{r["movie_title"]} ({year})' if len(year) == 4 and year.isdigit() else r["movie_title"]
    by_user = {}
    for r in read_atomic(data / "ml-100k.inter"):
        by_user.setdefault(r["user_id"], []).append((float(r["timestamp"]), int(r["item_id"]), float(r["rating"])))
    rng = random.Random(seed)
    users = sorted((u for u, xs in by_user.items() if len(xs) >= WINDOW), key=int)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates / "prompts")), undefined=jinja2.StrictUndefined)
    tpl = env.get_template("tallrec.j2")
    rows = []
    for u in rng.sample(users, n):
        xs = sorted(by_user[u])
        start = rng.randrange(len(xs) - WINDOW + 1)
        win = xs[start : start + WINDOW]
        hist, (_, target, target_rating) = win[:-1], win[-1]
        liked = [titles[str(i)] for _, i, r in hist if r > THRESHOLD]
        disliked = [titles[str(i)] for _, i, r in hist if r <= THRESHOLD]
        prompt = tpl.render(profile=None, noun="movie", liked=liked, disliked=disliked, target=titles[str(target)])
        rows.append({"prompt": prompt.rstrip(), "label": int(target_rating > THRESHOLD), "user": u, "target": titles[str(target)]})
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} prompts to {out} ({sum(r['label'] for r in rows)} positive)")


if __name__ == "__main__":
    main()
