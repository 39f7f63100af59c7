"""Reference values for crates/mosx-stats/tests/scipy_reference.rs (the HKSJ, jackknife and
Wilcoxon cases added for METHOD.md section 8).

Run in a throwaway venv:
    python3 -m venv /tmp/v && /tmp/v/bin/pip install statsmodels scipy
    /tmp/v/bin/python tools/stats_reference.py
Printed with statsmodels 0.15.0, scipy 1.17.1, numpy 2.4 (Python 3.11).

statsmodels' `combine_effects(..., method_re="dl", use_t=True)` gives HKSJ as its
"random effect wls" row (variance `sum(w_rel * (d - mu)^2) / (k - 1)`); it does not truncate
the DerSimonian-Laird tau^2 at 0, so for a homogeneous case (Q < k - 1) the truncated tau^2 = 0
procedure equals its "fixed effect wls" row instead.
"""
import warnings

import numpy as np
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

# statsmodels warns about per-sample intervals (not used) and the negative tau2 of the
# homogeneous case.
warnings.simplefilter("ignore")


def hksj(d, se, label):
    d = np.asarray(d, float)
    v = np.asarray(se, float) ** 2
    r = combine_effects(d, v, method_re="dl", use_t=True)
    k = len(d)
    fr = r.summary_frame(alpha=0.05, use_t=True)
    print(f"== {label}: d={d.tolist()} se={list(se)}")
    print(f"tau2 (untruncated) {r.tau2!r}  q {r.q!r}")
    for row, mean, var in [
        ("random effect wls", r.mean_effect_re, r.var_hksj_re),
        ("fixed effect wls", r.mean_effect_fe, r.var_hksj_fe),
    ]:
        sd = np.sqrt(var)
        t = mean / sd
        print(
            f"{row}: mean {mean!r} se {sd!r} ci {fr.loc[row, 'ci_low']!r} {fr.loc[row, 'ci_upp']!r}"
            f" t {t!r} p2 {2 * stats.t.sf(abs(t), k - 1)!r} p_greater {stats.t.sf(t, k - 1)!r}"
            f" p_less {stats.t.cdf(t, k - 1)!r}"
        )
    print(f"w_re relative {(r.weights_rel_re).tolist()!r}")
    # Non-inferiority of mu against -2: H0 mu <= -2.
    t = (r.mean_effect_re + 2.0) / np.sqrt(r.var_hksj_re)
    print(f"non-inferiority p (H0 mu <= -2) {stats.t.sf(t, k - 1)!r}")
    print(f"one-sided 95% lower bound {r.mean_effect_re - stats.t.ppf(0.95, k - 1) * np.sqrt(r.var_hksj_re)!r}")


hksj([1.2, 3.5, -0.4, 2.1, 0.8], [0.5, 0.7, 0.4, 0.6, 0.5], "five seeds, heterogeneous")
hksj([2.0, -1.0, 4.0], [0.3, 0.4, 0.5], "three seeds, heterogeneous")
hksj([1.0, 1.1, 0.9], [0.5, 0.5, 0.6], "three seeds, homogeneous (tau2 truncated to 0)")
hksj([0.3, 1.9], [0.4, 0.5], "two seeds")

# Jackknife SE of a ratio metric deleting one user's points at a time.
num = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0])
den = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
user = np.array([0, 0, 1, 2, 2, 2, 3])
theta = num.sum() / den.sum()
loo = np.array([num[user != u].sum() / den[user != u].sum() for u in np.unique(user)])
n = len(loo)
print("== jackknife ratio", theta, np.sqrt((n - 1) / n * ((loo - loo.mean()) ** 2).sum()))

# Wilcoxon with W+ at its null mean (n = 14, alternating +-1).
d = [1.0 if i % 2 == 0 else -1.0 for i in range(14)]
print("== wilcoxon at the null mean", stats.wilcoxon(d, correction=True))
