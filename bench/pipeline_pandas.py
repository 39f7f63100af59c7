#!/usr/bin/env python3
"""pandas/numpy reference of mosx-data's load + sample + split + measure (METHOD.md §1-§2),
timed per stage on ML-100K (RecBole files) and full BookCrossing, as the Python half of
bench/pipeline.sh. Same semantics as the Rust crate (ages [5, 100], implicit ratings kept,
ratings of unknown books/users dropped, windows of 11, n = 10,000, ML natural ratio, BX
{adult: 0.6, teen: 0.4}, 8:1:1 split by user, share degree, z* = 1), different random
streams (numpy instead of ChaCha8), so the sampled points differ but the work is the same.

Usage: pipeline_pandas.py [DATA_DIR] [REPEATS]
Prints `SUMMARY ...` and `RESULT <dataset> <stage> <seconds>` lines (best of the repeats).
"""
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

WINDOW, N, SEED = 11, 10_000, 0


def load_ml(d: Path):
    def read(name):
        df = pd.read_csv(d / name, sep="\t", dtype=str, keep_default_na=False, encoding="utf-8")
        df.columns = [c.split(":")[0] for c in df.columns]
        return df

    inter, item, user = read("ml-100k.inter"), read("ml-100k.item"), read("ml-100k.user")
    year = item["release_year"].where(item["release_year"].str.fullmatch(r"\d{4}"), "")
    item["title"] = np.where(year != "", item["movie_title"] + " (" + year + ")", item["movie_title"])
    user["group"] = user["gender"].map({"M": 0, "F": 1})
    if user["group"].isna().any():
        raise ValueError("bad gender")
    r = pd.DataFrame({
        "user_id": inter["user_id"],
        "item_id": inter["item_id"],
        "rating": inter["rating"].astype(np.float32),
        "timestamp": inter["timestamp"].astype(np.int64),
    })
    return finish(r, user[["user_id", "group"]], item[["item_id", "title"]], ["male", "female"], 3.0)


def load_bx(d: Path, min_age=5, max_age=100):
    opts = dict(sep=";", quotechar='"', escapechar="\\", encoding="latin-1", dtype=str,
                na_values=["NULL"], keep_default_na=False)
    ratings = pd.read_csv(d / "BX-Book-Ratings.csv", **opts)
    books = pd.read_csv(d / "BX-Books.csv", usecols=["ISBN", "Book-Title"], **opts)
    users = pd.read_csv(d / "BX-Users.csv", usecols=["User-ID", "Age"], **opts)
    age = users["Age"].astype(float)
    users = users.assign(group=(age < 18).astype(np.int8))[(age >= min_age) & (age <= max_age)]
    r = pd.DataFrame({
        "user_id": ratings["User-ID"],
        "item_id": ratings["ISBN"],
        "rating": ratings["Book-Rating"].astype(np.float32),
    })
    users = users.rename(columns={"User-ID": "user_id"})[["user_id", "group"]]
    books = books.rename(columns={"ISBN": "item_id", "Book-Title": "title"})
    return finish(r, users, books, ["adult", "teen"], 5.0)


def finish(r, users, items, groups, threshold):
    """Inner-join ratings with users/items; dense codes in profile/item file order."""
    users = users.reset_index(drop=True)
    items = items.reset_index(drop=True)
    r = r.merge(users.reset_index().rename(columns={"index": "urow"}), on="user_id", how="inner", sort=False)
    r = r.merge(items[["item_id"]].reset_index().rename(columns={"index": "irow"}), on="item_id", how="inner", sort=False)
    ucodes, uniq_u = pd.factorize(r["urow"], sort=True)
    icodes, uniq_i = pd.factorize(r["irow"], sort=True)
    inter = pd.DataFrame({"user": ucodes.astype(np.int64), "item": icodes.astype(np.int64), "rating": r["rating"].to_numpy()})
    if "timestamp" in r:
        inter["timestamp"] = r["timestamp"].to_numpy()
    return {
        "users": users.iloc[uniq_u].reset_index(drop=True),
        "items": items.iloc[uniq_i].reset_index(drop=True),
        "inter": inter,
        "groups": groups,
        "threshold": threshold,
    }


def sample(ds, ratio, seed=SEED):
    inter = ds["inter"]
    rng = np.random.default_rng(seed)
    if "timestamp" in inter:
        order = inter.sort_values(["user", "timestamp"], kind="stable")
    else:  # seeded per-user shuffle
        order = inter.assign(_r=rng.random(len(inter))).sort_values(["user", "_r"], kind="stable")
    items = order["item"].to_numpy()
    ratings = order["rating"].to_numpy()
    n_users = len(ds["users"])
    counts = np.bincount(order["user"].to_numpy(), minlength=n_users)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    per_user = np.maximum(counts - (WINDOW - 1), 0)
    ugroup = ds["users"]["group"].to_numpy()
    available = [int(per_user[ugroup == g].sum()) for g in range(len(ds["groups"]))]

    def draw(users, want):
        prefix = np.concatenate([[0], np.cumsum(per_user[users])])
        total = int(prefix[-1])
        picks = np.sort(rng.choice(total, size=min(want, total), replace=False))
        j = np.searchsorted(prefix, picks, side="right") - 1
        return users[j], picks - prefix[j]

    if ratio is None:
        u, s = draw(np.arange(n_users), N)
    else:
        parts = []
        for g, name in enumerate(ds["groups"]):
            want = int(round(N * ratio.get(name, 0.0)))
            if want > available[g]:
                raise ValueError(f"group {name} has {available[g]} windows, asked {want}")
            parts.append(draw(np.flatnonzero(ugroup == g), want))
        u = np.concatenate([p[0] for p in parts])
        s = np.concatenate([p[1] for p in parts])
        o = np.lexsort((s, u))
        u, s = u[o], s[o]
    pos = offsets[u][:, None] + s[:, None] + np.arange(WINDOW)[None, :]
    win_items, win_ratings = items[pos], ratings[pos]
    return {
        "user": u,
        "history": win_items[:, :-1],
        "history_ratings": win_ratings[:, :-1],
        "target": win_items[:, -1],
        "target_rating": win_ratings[:, -1],
        "label": win_ratings[:, -1] > ds["threshold"],
        "available": available,
    }


def split(seq, ratios=(0.8, 0.1, 0.1), seed=SEED):
    rng = np.random.default_rng(seed)
    pts = pd.DataFrame({"user": seq["user"]})
    count = pts.groupby("user").size()
    perm = rng.permutation(len(count))
    c = count.to_numpy()[perm]
    mid = np.cumsum(c) - c / 2.0
    n = len(pts)
    part = np.where(mid <= ratios[0] * n, 0, np.where(mid <= (ratios[0] + ratios[1]) * n, 1, 2))
    part_of = pd.Series(part, index=count.index[perm])
    p = part_of.loc[pts["user"]].to_numpy()
    return [np.flatnonzero(p == k) for k in range(3)]


def measure(ds, seq, train, z_star=1.0, min_count=1):
    hist = seq["history"][train]
    pairs = pd.DataFrame({
        "user": np.repeat(seq["user"][train], hist.shape[1]),
        "item": hist.ravel(),
    }).drop_duplicates()
    pairs["group"] = ds["users"]["group"].to_numpy()[pairs["user"].to_numpy()]
    ng, ni = len(ds["groups"]), len(ds["items"])
    counts = (pairs.groupby(["item", "group"]).size().unstack(fill_value=0)
              .reindex(index=range(ni), columns=range(ng), fill_value=0).to_numpy(dtype=float))
    total = counts.sum(axis=1, keepdims=True)
    others = (total - counts) / (ng - 1)
    degree = np.divide(counts - others, total, out=np.zeros_like(counts), where=total > 0)
    eligible = total[:, 0] >= min_count
    mean = degree[eligible].mean(axis=0)
    std = degree[eligible].std(axis=0)
    z = np.where(eligible[:, None], (degree - mean) / np.where(std > 0, std, 1.0), np.nan)
    member = z > z_star
    return {"counts": counts, "degree": degree, "z": z, "member": member}


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "data")
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    for name, loader, ratio in [
        ("ml-100k", load_ml, None),
        ("bookcrossing", load_bx, {"adult": 0.6, "teen": 0.4}),
    ]:
        best = [float("inf")] * 5
        for _ in range(repeats):
            t0 = time.perf_counter()
            ds = loader(root / name)
            t1 = time.perf_counter()
            seq = sample(ds, ratio)
            t2 = time.perf_counter()
            tr, va, te = split(seq)
            t3 = time.perf_counter()
            st = measure(ds, seq, tr)
            t4 = time.perf_counter()
            best = [min(b, t) for b, t in zip(best, [t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0])]
        print(f"SUMMARY {name} users={len(ds['users'])} items={len(ds['items'])} interactions={len(ds['inter'])} "
              f"windows={seq['available']} points={len(seq['user'])} train/valid/test={len(tr)}/{len(va)}/{len(te)} "
              f"members={st['member'].sum(axis=0).tolist()} neutral={int((~st['member'].any(axis=1)).sum())}")
        for stage, t in zip(["load", "sample", "split", "measure", "total"], best):
            print(f"RESULT {name} {stage} {t:.4f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
