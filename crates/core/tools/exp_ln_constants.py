"""Generates the tables and polynomial coefficients of the vectorised exp and
ln in crates/core/src/kernels.rs (pasted there by hand; re-run to check).

    python3 crates/core/tools/exp_ln_constants.py      # needs mpmath

exp(x) = 2^K · T[j] · e^r with x = (16K + j)·ln2/16 + r, |r| ≤ ln2/32, and
e^r − 1 = r + r²·P(r), P a degree-4 Chebyshev fit of (e^r − 1 − r)/r².
ln(x) = e·ln2 + LOGC[i] + log1p(u) with m ∈ [1, 2) the mantissa, i its top four
bits, u = m·INVC[i] − 1 (|u| < 0.031), INVC[i] ≈ 1/(1 + (i + ½)/16) rounded to
a double and LOGC[i] = −ln(INVC[i]) of that double, so the split is exact;
log1p(u) = u + u²·Q(u), Q a degree-6 Chebyshev fit of (log1p(u) − u)/u².
"""
import mpmath as mp

mp.mp.prec = 200


def dbl(v):
    return float(v)


def show(name, vals):
    print(f"const {name}: [f64; {len(vals)}] = [")
    for v in vals:
        print(f"    {float(v)!r},")
    print("];")


def fit(f, lo, hi, degree):
    coeffs, err = mp.chebyfit(f, [lo, hi], degree + 1, error=True)
    # chebyfit returns highest power first
    return [dbl(c) for c in reversed(coeffs)], err


# exp
T = [dbl(mp.mpf(2) ** (mp.mpf(j) / 16)) for j in range(16)]
R = mp.log(2) / 32 * mp.mpf("1.0001")
P, perr = fit(lambda r: (mp.exp(r) - 1 - r) / r**2 if r != 0 else mp.mpf(0.5), -R, R, 4)
show("EXP_T", T)
show("EXP_P", P)
print(f"// fit error of P: {float(perr):.3e} (times r² ≤ {float(R*R):.2e})")

# ln
INVC = [dbl(1 / (1 + (mp.mpf(i) + mp.mpf(0.5)) / 16)) for i in range(16)]
LOGC = [dbl(-mp.log(mp.mpf(c))) for c in INVC]
umax = max(
    max(abs(mp.mpf(1 + mp.mpf(i) / 16) * c - 1), abs(mp.mpf(1 + mp.mpf(i + 1) / 16) * c - 1))
    for i, c in enumerate(INVC)
)
U = umax * mp.mpf("1.0001")
Q, qerr = fit(lambda u: (mp.log1p(u) - u) / u**2 if u != 0 else mp.mpf(-0.5), -U, U, 6)
show("LN_INVC", INVC)
show("LN_LOGC", LOGC)
show("LN_Q", Q)
print(f"// |u| ≤ {float(umax):.6f}; fit error of Q: {float(qerr):.3e} (times u² ≤ {float(U*U):.2e})")

# ln2 split for 16-ths: the high part has trailing zero bits so k·hi is exact
LN2_HI = 6.931471803691238e-1
print(f"const LN2_16_HI: f64 = {LN2_HI / 16!r};")
print(f"const LN2_16_LO: f64 = {dbl((mp.log(2) - mp.mpf(LN2_HI)) / 16)!r};")
print(f"const INV_LN2_16: f64 = {dbl(16 / mp.log(2))!r};")
